"""The reliability suite (issue 6). Tests marked `integration` run in `make test`'s PostgreSQL
phase and may use the real Celery worker; the rest run in phase one on SQLite."""

from tests.integration.conftest import (  # noqa: F401 - fixtures
    WorkerHandle,
    _worker_drained,
    celery_worker,
)
