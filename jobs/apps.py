from django.apps import AppConfig


class JobsConfig(AppConfig):
    """The background-job queue's plumbing: at the bottom with `siteurl`, it knows no app of ours.

    Apps enqueue their own jobs (`@task` functions beside the rules they run); this app only makes
    sure each one runs after its transaction commits, on some worker, once it succeeds.
    """

    name = "jobs"
    verbose_name = "Background jobs"
    default_auto_field = "django.db.models.BigAutoField"
