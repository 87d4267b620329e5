from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The lowest layer: an append-only record of decisions, grants and publications.

    It knows no other app of ours; `membership` and `profiles` write to it through
    `audit.services.record`.
    """

    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"
