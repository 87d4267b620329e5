"""Lead analysts read the audit log (superusers read everything anyway)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    app_config = apps.get_app_config("audit")
    if not getattr(app_config, "models_module", None):  # the migration state's stub lacks it
        app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Lead analysts")
    group.permissions.add(Permission.objects.get(content_type__app_label="audit", codename="view_auditentry"))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="Lead analysts"):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="audit"))


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0011_submitted_at"),
        ("audit", "0001_initial"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
