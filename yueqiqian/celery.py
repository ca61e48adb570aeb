"""The Celery app. Tasks live in each app's tasks.py; settings come from CELERY_* in Django's."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yueqiqian.settings")

app = Celery("yueqiqian")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def db_connections_tidy(sender=None, **_kwargs) -> None:
    """Around every task, treat database connections as Django treats them around a request:
    keep a connection for CONN_MAX_AGE, but drop one that failed or outlived it (the next query
    then checks it first, CONN_HEALTH_CHECKS). Celery's own Django fixup would close it before
    and after *every* task — a new PostgreSQL session, with its fork and authentication, for
    each one — which CELERY_DB_REUSE_MAX turns off (see the settings).

    Not for a task run in-process (eager): the connection is the caller's, maybe in a
    transaction.
    """
    if sender is None or getattr(sender.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()
