"""An optional gate that names the "Public" tier means what no tier means: everyone reads the row.

The admin offers "Public (everyone)" as the empty choice of an optional gate and stores no tier for
it; rows saved before then may still name the Public tier row, so re-saving one unchanged would
look like a change of gate and send approved evidence back to review. This turns those references
into no tier, with `update()`: readers' view is the same, so nothing is re-reviewed, recorded or
retired. A gate that must name a tier (briefings) never names Public: its form refuses it.
"""

from django.db import migrations

PUBLIC_LEVEL = 0  # membership.models.Tier.PUBLIC_LEVEL, as the data say at this point in history


def public_tier_means_no_tier(apps, schema_editor):
    public = list(apps.get_model("membership", "Tier").objects.filter(level=PUBLIC_LEVEL).values_list("pk", flat=True))
    if not public:
        return
    for model in apps.get_app_config("profiles").get_models():
        if model._meta.proxy or model.__name__.startswith("Historical"):
            continue  # history keeps what was stored then
        gate = next((field for field in model._meta.fields if field.name == "required_tier"), None)
        if gate is not None and gate.null:
            model._default_manager.filter(required_tier__in=public).update(required_tier=None)


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0015_freshness"),
        ("membership", "0002_seed_tiers"),
    ]

    operations = [migrations.RunPython(public_tier_means_no_tier, migrations.RunPython.noop)]
