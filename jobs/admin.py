"""django-tasks-db registers an admin page for its job rows; it is taken off until the admin's
permission policy (tests/test_admin_permission_matrix.py) says who may read it."""

from django.contrib import admin
from django_tasks_db.models import DBTaskResult

if admin.site.is_registered(DBTaskResult):
    admin.site.unregister(DBTaskResult)
