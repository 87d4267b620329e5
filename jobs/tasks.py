"""Jobs of the queue itself."""

from django_tasks import task


@task()
def ping(value=None):
    """Do nothing and return `value`: shows a worker takes jobs, and is the benchmark's unit of work."""
    return value
