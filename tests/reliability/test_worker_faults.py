"""On PostgreSQL + Redis: Celery workers SIGKILLed at random moments while they issue 20 paid
orders, three times over; then one more worker and the `certificates_issue_stuck` sweep. Every
paid order must end 已完成 with exactly one certificate, and the audit chain must hold.

The session's shared worker (tests/integration/conftest.py) is told to stop consuming for the
length of the test, so that the workers killed here are the only ones doing the work.
"""

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection

from certificates import tasks as certificate_tasks
from certificates.models import EnterpriseCertificate
from certificates.services import ca_hierarchy_create
from orders.audit import chain_verify
from orders.models import Order, Payment
from orders.payments.services import payment_settle
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import (
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    verified,
)
from tests.integration.conftest import ROOT
from tests.orders.test_payments import as_transaction, paid_transaction, sandbox_merchant

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
# Enough work that a kill 1–4 orders in lands mid-way on a fast machine (~40 issuances/s).
ORDERS = 40
ROUNDS = 3
QUEUE = "celery"
SEED = int(os.environ.get("YQ_FAULTS_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)


class Worker:
    """A `celery worker` in its own process group, so SIGKILL takes its pool children too."""

    def __init__(self, name: str, log_path) -> None:
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/"
                f"{db['NAME']}"
            ),
            "DJANGO_SETTINGS_MODULE": "yueqiqian.settings",
        }
        self.name = f"{name}@{os.uname().nodename}"
        self.log_path = log_path
        self.log = log_path.open("a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "celery", "-A", "yueqiqian", "worker", "--pool=prefork"),
                *("--concurrency=2", "--loglevel=INFO", "--without-gossip", "--without-mingle"),
                *("-n", self.name, "-Q", QUEUE),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, app, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not app.control.ping(destination=[self.name], timeout=0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # warm shutdown: the main process lets its children finish
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def shared_worker_paused(celery_worker):
    """The session's worker stops consuming for this test and resumes afterwards. Only that one:
    any other worker on the broker belongs to someone else (run this on a broker of its own)."""
    from yueqiqian.celery import app

    shared = [f"itest-{os.getpid()}@{os.uname().nodename}"]
    app.control.cancel_consumer(QUEUE, destination=shared, reply=True, timeout=5)
    yield app
    app.control.add_consumer(QUEUE, destination=shared, reply=True, timeout=5)


def completed() -> int:
    return Order.objects.filter(
        pk__in=Payment.objects.values("order_id"), status=OrderStatus.COMPLETED
    ).count()


def test_killed_workers_and_the_sweep_still_issue_every_paid_order_once(
    shared_worker_paused, tmp_path, monkeypatch
):
    app = shared_worker_paused
    rng = random.Random(SEED)
    started = time.monotonic()
    ca = CAInstitutionFactory()
    ca_hierarchy_create(ca=ca)
    sandbox_merchant(ca)
    package = PackageFactory(ca=ca)
    orders = []
    for n in range(ORDERS):
        applicant = UserFactory()
        verified(applicant)
        order = filled_application(
            applicant=applicant,
            package=package,
            credit_code=make_credit_code(f"91440106MA6{n:06d}"),
        )
        for step in (OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED):
            order = order_transition(order=order, to=step, actor_label="测试")
        # Paid for real: each settlement queues its issuance through Redis on commit.
        payment_settle(
            order_number=order.number,
            transaction=as_transaction(paid_transaction(order)),
            source="notify",
        )
        orders.append(order)

    monkeypatch.setattr(certificate_tasks, "STUCK_AFTER", timedelta(0))
    kills: list[int] = []
    requeued: list[int] = []
    pending: list[int] = []
    for round_ in range(ROUNDS):
        worker = Worker(f"faults-{os.getpid()}-{round_}", tmp_path / f"worker-{round_}.log")
        try:
            # A random moment while it works: once 1–4 more orders complete, plus up to 0.1 s.
            # (Not after a ping: a worker can finish everything before it answers one.)
            target = min(ORDERS, completed() + rng.randint(1, 4))
            deadline = time.monotonic() + 30
            while completed() < target and time.monotonic() < deadline:
                if worker.proc.poll() is not None:
                    raise AssertionError(worker.log_path.read_text()[-3000:])
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
            worker.kill()
            kills.append(completed())
            pending.append(
                EnterpriseCertificate.objects.filter(
                    order__in=orders, status=EnterpriseCertificate.Status.PENDING
                ).count()
            )
        finally:
            worker.stop()
        # The tasks the killed worker had reserved stay unacknowledged in Redis (until the
        # visibility timeout, an hour): the periodic sweep queues those orders again — here at
        # once, its 2-minute patience shortened for the test.
        requeued.append(certificate_tasks.certificates_issue_stuck())

    stuck_before_final = Order.objects.filter(status=OrderStatus.ISSUING).count()
    final = Worker(f"faults-{os.getpid()}-final", tmp_path / "worker-final.log")
    try:
        final.wait_ready(app)
        requeued.append(certificate_tasks.certificates_issue_stuck())
        deadline = time.monotonic() + 60
        while completed() < ORDERS and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        final.stop()

    elapsed = time.monotonic() - started
    logs = sorted(tmp_path.glob("*.log"))
    done_by = {f.stem: f.read_text().count("succeeded in") for f in logs}
    print(
        f"\nworker faults (seed {SEED}): {ORDERS} paid orders, {ROUNDS} SIGKILLs with "
        f"{kills} orders completed after each kill; sweeps re-queued {requeued}; "
        f"{pending} certificates half-issued (PENDING) right after each kill; "
        f"{stuck_before_final} still 签发中 before the last worker; "
        f"tasks succeeded per worker {done_by}; "
        f"all done in {elapsed:.1f} s"
    )
    assert kills[0] < ORDERS, "the first kill came after all the work: no fault was injected"
    assert completed() == ORDERS, (tmp_path / "worker-final.log").read_text()[-3000:]
    for order in orders:
        certificates = EnterpriseCertificate.objects.filter(order=order)
        assert [c.status for c in certificates] == [EnterpriseCertificate.Status.VALID]
    assert Payment.objects.filter(order__in=orders).count() == ORDERS
    assert chain_verify().ok
    assert elapsed < 90
