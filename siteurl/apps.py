from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class SiteUrlConfig(AppConfig):
    name = "siteurl"
    verbose_name = "Site address"

    def ready(self):
        from .sites import sync_site_row  # the Sites model, importable once the registry is ready

        post_migrate.connect(sync_site_row, sender=apps.get_app_config("sites"), dispatch_uid="siteurl.sync")
