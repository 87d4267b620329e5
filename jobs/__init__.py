"""Background jobs: the queue's plumbing under Django's Tasks API (the django-tasks backport).

Code elsewhere writes jobs with `django_tasks.task` and enqueues them inside the transaction of the
act that causes them; this app decides how they run (`backends`), keeps a worker's claim on a
running job alive and hands back the jobs of workers that died (`leases`), and starts workers
(`manage.py run_worker`, `make worker`).
"""
