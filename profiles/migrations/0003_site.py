"""Name the default site so e-mails and sitemaps say "BTW Profiles", not "example.com"."""

from django.db import migrations


def name_site(apps, schema_editor):
    Site = apps.get_model("sites", "Site")
    Site.objects.update_or_create(pk=1, defaults={"domain": "127.0.0.1:8000", "name": "BTW Profiles"})


class Migration(migrations.Migration):
    dependencies = [("profiles", "0002_groups"), ("sites", "0002_alter_domain_unique")]
    operations = [migrations.RunPython(name_site, migrations.RunPython.noop)]
