"""On PostgreSQL with the real Celery worker: racing deliveries of one payment notification over
HTTP, and racing review decisions, each end with exactly one outcome.

(Concurrency already covered elsewhere: one open application per credit code —
tests/integration/test_application_concurrency.py; seats — test_seat_concurrency.py; racing
settlements and order moves — test_payment_integration.py, test_worker_and_postgres.py.)
"""

import threading
from collections import Counter

import pytest
from django.db import close_old_connections, connection
from django.test import Client
from django.urls import reverse

from authorization.review import ReviewNotAllowed, ca_review, support_review
from certificates.models import EnterpriseCertificate
from certificates.services import ca_hierarchy_create
from orders.audit import chain_verify
from orders.models import Order, OrderEvent, Payment
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import (
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    verified,
)
from tests.orders.test_payments import paid_notification, sandbox_merchant
from tests.test_admin_review import bank_transfer_order, staff_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
DELIVERIES = 12
REVIEWERS = 8


def race(n: int, work) -> list[object]:
    """Run work(i) in n threads released together; each result or exception, in any order."""
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            result = work(i)
        except Exception as exc:  # collected and asserted by the caller
            result = exc
        finally:
            close_old_connections()
            connection.close()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == n, "a racer did not finish"
    return results


@pytest.fixture
def issuable_ca():
    ca = CAInstitutionFactory()
    ca_hierarchy_create(ca=ca)
    sandbox_merchant(ca)
    return ca


def test_parallel_deliveries_of_one_notification_pay_and_issue_once(celery_worker, issuable_ca):
    assert connection.vendor == "postgresql"
    applicant = UserFactory()
    verified(applicant)
    order = filled_application(applicant=applicant, package=PackageFactory(ca=issuable_ca))
    for step in (OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED):
        order = order_transition(order=order, to=step, actor_label="测试")
    headers, body = paid_notification(order)
    url = reverse("payments:wechat_notify", args=[issuable_ca.code])

    statuses = race(
        DELIVERIES,
        lambda _: (
            Client()
            .post(url, data=body, content_type="application/json", headers=headers)
            .status_code
        ),
    )

    assert statuses == [200] * DELIVERIES
    assert Payment.objects.filter(order=order).count() == 1
    celery_worker.wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED,
        timeout=40,
        what="issuance of the paid order",
    )
    assert EnterpriseCertificate.objects.filter(order=order).count() == 1
    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.ISSUING).count() == 1
    assert chain_verify().ok
    print(f"\nconcurrency: {DELIVERIES} parallel deliveries → 1 payment, 1 certificate")


def test_parallel_support_decisions_record_exactly_one(issuable_ca):
    order = bank_transfer_order(package=PackageFactory(ca=issuable_ca))
    reviewers = [staff_user(f"1390000{n:04d}", "客服") for n in range(REVIEWERS)]

    def decide(i: int) -> str:
        mine = Order.objects.get(pk=order.pk)
        approve = i % 2 == 0
        support_review(order=mine, reviewer=reviewers[i], approve=approve, reason="凭证不清晰")
        return "approved" if approve else "rejected"

    results = race(REVIEWERS, decide)

    won = [r for r in results if isinstance(r, str)]
    lost = [r for r in results if not isinstance(r, str)]
    assert len(won) == 1, results
    assert all(isinstance(r, ReviewNotAllowed) for r in lost), lost
    order.refresh_from_db()
    expected = {"approved": OrderStatus.PENDING_CA_REVIEW, "rejected": OrderStatus.REJECTED}
    assert order.status == expected[won[0]]
    decisions = OrderEvent.objects.filter(order=order, from_status=OrderStatus.PENDING_REVIEW)
    assert decisions.count() == 1
    assert chain_verify().ok


def test_parallel_ca_approvals_issue_one_certificate(celery_worker, issuable_ca):
    order = bank_transfer_order(package=PackageFactory(ca=issuable_ca))
    support_review(order=order, reviewer=staff_user("13900009999", "客服"), approve=True, reason="")
    reviewers = [
        staff_user(f"1390001{n:04d}", "CA审核员", ca=issuable_ca) for n in range(REVIEWERS)
    ]

    def approve(i: int) -> str:
        mine = Order.objects.get(pk=order.pk)
        ca_review(order=mine, reviewer=reviewers[i], approve=True, reason="")
        return "approved"

    results = race(REVIEWERS, approve)

    assert Counter(type(r).__name__ for r in results) == {
        "str": 1,
        "ReviewNotAllowed": REVIEWERS - 1,
    }, results
    celery_worker.wait_for(
        lambda: Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED,
        timeout=40,
        what="issuance of the approved order",
    )
    assert EnterpriseCertificate.objects.filter(order=order).count() == 1
    assert chain_verify().ok
