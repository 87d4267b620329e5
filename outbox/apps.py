from django.apps import AppConfig


class OutboxConfig(AppConfig):
    """Outgoing e-mail: written in the transaction of the act that causes it, sent after it commits,
    retried with backoff while SMTP fails, never sent twice.

    Just above `siteurl`: it knows no other app of ours; `membership` and `profiles` hand it messages.
    """

    name = "outbox"
    verbose_name = "Outgoing e-mail"
    default_auto_field = "django.db.models.BigAutoField"
