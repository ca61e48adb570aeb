"""Integration tests: PostgreSQL, Redis, and a real Celery worker process.

`make test` runs them with DATABASE_URL and REDIS_URL set. Without them they fail — they never
skip — because a missing database or broker must fail CI.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
WORKER_APPLICATION_NAME = "yq-itest-worker"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A `celery worker` subprocess on the test database, consuming from Redis."""
    from django.db import connection

    from yueqiqian.celery import app

    if connection.vendor != "postgresql":
        pytest.fail("integration tests need DATABASE_URL pointing at PostgreSQL")
    if settings.CELERY_TASK_ALWAYS_EAGER or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.fail("integration tests need REDIS_URL: tasks must go through a real broker")
    try:
        app.connection_for_write().ensure_connection(max_retries=3)
    except Exception as exc:  # pragma: no cover - the failure message is the point
        pytest.fail(f"Redis is not reachable at {settings.CELERY_BROKER_URL}: {exc}")
    app.control.purge()

    db = connection.settings_dict
    outbox = tmp_path_factory.mktemp("worker") / "sms-outbox.jsonl"
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
        ),
        "YQ_SMS_SANDBOX_OUTBOX": str(outbox),
        "DJANGO_SETTINGS_MODULE": "yueqiqian.settings",
        # libpq names the worker's PostgreSQL sessions, so tests can tell them apart.
        "PGAPPNAME": WORKER_APPLICATION_NAME,
    }
    log = tmp_path_factory.mktemp("worker-log") / "worker.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "yueqiqian",
                "worker",
                "--pool=prefork",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"itest-{os.getpid()}@%h",
                "-Q",
                "celery,bulk",
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while not app.control.ping(timeout=1):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the Celery worker did not start:\n{log.read_text()[-3000:]}")
            yield WorkerHandle(proc=proc, sms_outbox=outbox, log=log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(autouse=True)
def _worker_drained(request):
    """A test that used the worker ends only when the worker is idle: tasks it queued (an
    invoice, a notice) still running while the test database is flushed deadlock the flush."""
    if "celery_worker" not in request.fixturenames:
        yield
        return
    # Set up after the test database, so this teardown runs before its flush.
    request.getfixturevalue("transactional_db")
    worker = request.getfixturevalue("celery_worker")
    yield
    worker.wait_idle()


class WorkerHandle:
    def __init__(self, *, proc, sms_outbox: Path, log: Path) -> None:
        self.proc = proc
        self.sms_outbox = sms_outbox
        self.log = log

    def wait_idle(self, timeout: float = 30) -> None:
        """Until nothing is queued in Redis and the worker runs and holds no task."""
        import redis

        from yueqiqian.celery import app

        broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)

        def idle() -> bool:
            if any(broker.llen(queue) for queue in ("celery", "bulk")):
                return False
            inspect = app.control.inspect(timeout=0.5)
            busy = [inspect.active() or {}, inspect.reserved() or {}]
            return not any(tasks for replies in busy for tasks in replies.values())

        self.wait_for(idle, timeout=timeout, what="the worker to finish its tasks")

    def wait_for(self, predicate, timeout: float = 20, what: str = "the worker") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(
            f"timed out waiting for {what}; worker log:\n{self.log.read_text()[-3000:]}"
        )
