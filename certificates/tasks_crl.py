"""Beat task for the CRLs (certificates.revocation).

Celery's autodiscovery imports only `tasks.py`; this module is registered with
CELERY_IMPORTS = ["certificates.tasks_crl"] so the worker knows the task.
"""

from celery import shared_task

from . import revocation


@shared_task
def crls_refresh() -> int:
    """Every 6 hours: sign the next CRL of each CA certificate whose CRL is due within 12 hours
    (or missing, or missing a revocation). Returns how many were signed."""
    return revocation.crls_refresh()
