"""Payments on PostgreSQL with a real Celery worker: a notification delivered again and again,
and settlements racing in threads, record one payment and move the order once."""

import threading
import time

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse

from certificates.models import EnterpriseCertificate
from certificates.services import ca_hierarchy_create
from invoices.models import Invoice
from orders.models import Order, OrderEvent, Payment
from orders.payments.services import payment_settle
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import (
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    verified,
)
from tests.orders.test_payments import (
    as_transaction,
    paid_notification,
    paid_transaction,
    sandbox_merchant,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def order() -> Order:
    """An authorized application to a CA with a key hierarchy and a sandbox merchant: once
    paid, the worker can issue its certificate."""
    ca = CAInstitutionFactory()
    ca_hierarchy_create(ca=ca)
    sandbox_merchant(ca)
    applicant = UserFactory()
    verified(applicant)
    order = filled_application(applicant=applicant, package=PackageFactory(ca=ca))
    for step in (OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED):
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def test_a_notification_delivered_three_times_records_one_payment(client, celery_worker, order):
    assert connection.vendor == "postgresql"
    headers, body = paid_notification(order)
    url = reverse("payments:wechat_notify", args=[order.ca.code])

    statuses = [
        client.post(url, data=body, content_type="application/json", headers=headers).status_code
        for _ in range(3)
    ]

    assert statuses == [200, 200, 200]
    assert Payment.objects.filter(order=order).count() == 1
    moves = OrderEvent.objects.filter(order=order, from_status=OrderStatus.AUTHORIZED)
    assert list(moves.values_list("to_status", flat=True)) == [OrderStatus.ISSUING]
    celery_worker.wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED,
        timeout=30,
        what="the issuance task to complete the paid order",
    )
    celery_worker.wait_for(
        lambda: Invoice.objects.filter(order=order).exists(), what="the invoice task"
    )
    assert EnterpriseCertificate.objects.filter(order=order, status="valid").count() == 1


@pytest.mark.parametrize("same_transaction", [True, False], ids=["same", "different"])
def test_racing_settlements_of_one_order_record_one_payment_and_one_move(
    celery_worker, order, same_transaction
):
    racers = 8
    shared = as_transaction(paid_transaction(order))
    transactions = [
        shared if same_transaction else as_transaction(paid_transaction(order))
        for _ in range(racers)
    ]
    barrier = threading.Barrier(racers)
    results: list[object] = []
    lock = threading.Lock()

    def race(transaction) -> None:
        try:
            barrier.wait(timeout=10)
            result = payment_settle(
                order_number=order.number, transaction=transaction, source="notify"
            ).pk
        except Exception as exc:  # collected and asserted below
            result = exc
        finally:
            close_old_connections()
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=race, args=(t,)) for t in transactions]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert time.monotonic() - started < 30
    assert len(results) == racers
    assert all(isinstance(r, int) for r in results), results
    payment = Payment.objects.get(order=order)
    assert set(results) == {payment.pk}
    order.refresh_from_db()
    assert order.status in {OrderStatus.ISSUING, OrderStatus.COMPLETED}
    assert (
        OrderEvent.objects.filter(
            order=order, from_status=OrderStatus.AUTHORIZED, to_status=OrderStatus.ISSUING
        ).count()
        == 1
    )
