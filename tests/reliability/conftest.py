"""The reliability suite (issue 6). Tests marked `integration` run in `make test`'s PostgreSQL
phase and may use the real Celery worker; the rest run in phase one on SQLite."""

from tests.integration.conftest import WorkerHandle, celery_worker  # noqa: F401 - fixture
