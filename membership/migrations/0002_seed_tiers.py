"""Tiers are data: Public, Strategic Circle (self-service) and Leadership Alliance (by application)."""

from django.db import migrations

TIERS = [
    {
        "slug": "public",
        "name": "Public",
        "level": 0,
        "self_service": True,
        "description": "Every reader, signed in or not.",
        "unlocks": "Published profiles and their public sections\nApproved public evidence\nThe dependency map",
    },
    {
        "slug": "strategic-circle",
        "name": "Strategic Circle",
        "level": 1,
        "self_service": True,
        "description": "Free for every reader: sign up and verify your e-mail address.",
        "unlocks": "Strategic Circle member briefings\nMembers-only evidence and watchpoints\nWatchlists and change digests",
    },
    {
        "slug": "leadership-alliance",
        "name": "Leadership Alliance",
        "level": 2,
        "self_service": False,
        "description": "For qualified IP-asset owners and management; staff review each application.",
        "unlocks": "Leadership Alliance briefings and their source notes\nEverything in the Strategic Circle",
    },
]


def seed_tiers(apps, schema_editor):
    Tier = apps.get_model("membership", "Tier")
    for tier in TIERS:
        Tier.objects.update_or_create(slug=tier["slug"], defaults=tier)


class Migration(migrations.Migration):
    dependencies = [("membership", "0001_initial")]
    operations = [migrations.RunPython(seed_tiers, migrations.RunPython.noop)]
