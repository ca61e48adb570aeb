"""On PostgreSQL with a real Celery worker over Redis: login codes travel through the queue,
and guarded order moves hold under real concurrency."""

import json
import threading

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse

from orders.models import OrderEvent
from orders.services import TransitionConflict, order_transition
from orders.states import OrderStatus
from tests.factories import PackageFactory, UserFactory, new_certificate_order
from tests.integration.conftest import WORKER_APPLICATION_NAME

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PHONE = "13812345678"


def test_a_login_code_is_delivered_by_the_worker_and_logs_in(client, celery_worker):
    assert connection.vendor == "postgresql"

    response = client.post(reverse("accounts:login"), {"action": "send", "phone": PHONE})
    assert response.status_code == 200

    def delivered() -> list[dict]:
        if not celery_worker.sms_outbox.exists():
            return []
        lines = celery_worker.sms_outbox.read_text("utf-8").splitlines()
        return [m for m in map(json.loads, lines) if m["phone"] == PHONE]

    celery_worker.wait_for(lambda: delivered(), what="the SMS task")
    code = delivered()[-1]["text"].split("验证码是 ")[1][:6]

    response = client.post(
        reverse("accounts:login"), {"action": "login", "phone": PHONE, "code": code}
    )
    assert response.status_code == 302


def test_racing_moves_of_one_order_on_postgresql_exactly_one_wins():
    order = new_certificate_order(applicant=UserFactory(), package=PackageFactory())
    for step in [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED]:
        order = order_transition(order=order, to=step, actor_label="测试")

    racers = 8
    barrier = threading.Barrier(racers)
    outcomes: list[str] = []
    lock = threading.Lock()

    def race(target: str) -> None:
        from orders.models import Order

        try:
            mine = Order.objects.get(pk=order.pk)
            barrier.wait(timeout=10)
            order_transition(order=mine, to=target, actor_label="并发测试")
            result = f"won:{target}"
        except TransitionConflict:
            result = "conflict"
        finally:
            close_old_connections()
            connection.close()
        with lock:
            outcomes.append(result)

    targets = [OrderStatus.ISSUING if n % 2 else OrderStatus.CANCELLED for n in range(racers)]
    threads = [threading.Thread(target=race, args=(t,)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    winners = [o for o in outcomes if o.startswith("won")]
    assert len(outcomes) == racers
    assert len(winners) == 1
    order.refresh_from_db()
    assert winners[0] == f"won:{order.status}"
    moves_out = OrderEvent.objects.filter(order=order, from_status=OrderStatus.AUTHORIZED)
    assert moves_out.count() == 1


def test_the_worker_keeps_its_database_sessions_across_tasks(celery_worker):
    """Celery's Django fixup would open a new PostgreSQL session for every task (a fork and an
    authentication in the database each time); the worker keeps them, as Django does between
    requests (yueqiqian.celery.db_connections_tidy, CELERY_DB_REUSE_MAX)."""
    from accounts.tasks import sms_codes_purge

    def purges_done() -> int:
        lines = celery_worker.log.read_text().splitlines()
        return sum("sms_codes_purge[" in line and " succeeded " in line for line in lines)

    def worker_sessions() -> dict[int, object]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, backend_start FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                [WORKER_APPLICATION_NAME],
            )
            return dict(cursor.fetchall())

    def run(count: int) -> None:
        target = purges_done() + count
        for _ in range(count):
            sms_codes_purge.delay()
        celery_worker.wait_for(lambda: purges_done() >= target, what="the purge tasks")

    run(4)
    first = worker_sessions()
    run(6)
    second = worker_sessions()

    assert first, "the worker closed its database sessions after the tasks"
    assert len(second) <= 2  # one per pool process
    assert set(first) & set(second), "the second batch opened new sessions"
