"""The newsroom's groups and their model permissions are data, created here, not by hand.

Analysts may create profiles and edit their children, but change an existing profile only
where they hold guardian's per-object `change_institution` (lead analysts hold it globally).
Moderators review evidence, relationships and Leadership Alliance applications.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CHILD_MODELS = ["evidenceitem", "relationship", "watchpoint", "timelineevent", "faqitem", "relatedlink", "briefing"]

GROUPS = {
    "Analysts": [("profiles", f"{action}_{model}") for model in CHILD_MODELS for action in ("add", "change", "delete", "view")]
    + [("profiles", "add_institution"), ("profiles", "view_institution"), ("profiles", "view_sector"),
       ("profiles", "add_sector"), ("membership", "view_tier")],
    "Lead analysts": [("profiles", "change_institution"), ("profiles", "delete_institution"),
                      ("profiles", "change_sector")],
    "Moderators": [("profiles", f"view_{model}") for model in CHILD_MODELS]
    + [("profiles", "change_evidenceitem"), ("profiles", "change_relationship"),
       ("profiles", "view_institution"), ("profiles", "moderate_evidence"),
       ("membership", "view_tier"), ("membership", "view_membership"), ("membership", "change_membership"),
       ("membership", "view_application"), ("membership", "change_application"),
       ("membership", "review_application")],
}


def create_groups(apps, schema_editor):
    for app_label in ("profiles", "membership"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True  # the migration state's stub lacks it; permissions need it
        create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codename in perms:
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0001_initial"),
        ("membership", "0002_seed_tiers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
