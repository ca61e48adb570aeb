"""WeChat Pay notifications under the conditions WeChat Pay and the internet produce: the whole
retry schedule, deliveries out of order, and every hostile notification both before and after
the genuine one. Each delivery is an HTTP POST through the real v3 verification path; after each
refused one, nothing has changed (order status, Payment, Order and OrderEvent counts) and one
warning names the CA. On SQLite (phase one).

The single-delivery refusals themselves live in tests/orders/test_payment_notify.py; their
builders are reused here, in sequences.
"""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from orders.models import Order, OrderEvent, Payment
from orders.payments.providers import sandbox_platform
from orders.states import OrderStatus
from tests.orders.test_payment_notify import REFUSED, refusals
from tests.orders.test_payments import (
    authorized_order,
    paid_notification,
    sandbox_merchant,
)

pytestmark = pytest.mark.django_db

# WeChat Pay's documented notification schedule: the first delivery, then retries after
# 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h — 16 deliveries over 24 h 4 min when no
# delivery is acknowledged. The issue asks for 15 deliveries: the first and 14 retries.
RETRY_GAPS = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600]
START = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


@pytest.fixture
def order(ca, package) -> Order:
    sandbox_merchant(ca)
    return authorized_order(package=package)


def post(client, ca_code: str, headers: dict, body: bytes):
    return client.post(
        reverse("payments:wechat_notify", args=[ca_code]),
        data=body,
        content_type="application/json",
        headers=headers,
    )


def state(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        Payment.objects.count(),
        Order.objects.count(),
        OrderEvent.objects.count(),
    )


def resigned(order: Order, body: bytes, *, at: datetime) -> dict:
    """The same notification body, signed again at `at` as WeChat Pay does on each retry."""
    return sandbox_platform(order.ca.wechatpay).sign(body, timestamp=int(at.timestamp()))


def test_the_whole_retry_schedule_records_one_payment_and_one_move(client, order, time_machine):
    _, body = paid_notification(order, transaction_id="4200000000202611270000000042")
    moment = START
    statuses = []
    for gap in [0, *RETRY_GAPS]:
        moment += timedelta(seconds=gap)
        time_machine.move_to(moment, tick=False)
        statuses.append(post(client, order.ca.code, resigned(order, body, at=moment), body))

    assert len(statuses) == 15
    assert [r.status_code for r in statuses] == [200] * 15
    assert Payment.objects.filter(order=order).count() == 1
    assert order.events.filter(to_status=OrderStatus.ISSUING).count() == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING


# --- out of order ---------------------------------------------------------------------------


def older_signature_after_newer(client, order, time_machine):
    """Two deliveries of one notification, the older one arriving last (within 5 min)."""
    _, body = paid_notification(order)
    older = resigned(order, body, at=START)
    newer = resigned(order, body, at=START + timedelta(seconds=30))
    time_machine.move_to(START + timedelta(seconds=31), tick=False)
    first = post(client, order.ca.code, newer, body)
    return first, (order.ca.code, older, body), 200


def older_delivery_after_the_window(client, order, time_machine):
    """The same, but the older delivery turns up 6 minutes late: refused as stale (replay)."""
    _, body = paid_notification(order)
    older = resigned(order, body, at=START)
    newer_at = START + timedelta(seconds=5)
    time_machine.move_to(newer_at, tick=False)
    first = post(client, order.ca.code, resigned(order, body, at=newer_at), body)
    time_machine.move_to(START + timedelta(minutes=6), tick=False)
    return first, (order.ca.code, older, body), 400


def notpay_after_success(client, order, time_machine):
    """An earlier state (NOTPAY) of the same trade arriving after the success."""
    time_machine.move_to(START, tick=False)
    first = post(client, order.ca.code, *paid_notification(order))
    return first, (order.ca.code, *paid_notification(order, trade_state="NOTPAY")), 400


def second_transaction_after_success(client, order, time_machine):
    """The payer paid twice: the second transaction is acknowledged (so WeChat Pay stops), logged
    as an error for a refund, and records nothing."""
    time_machine.move_to(START, tick=False)
    first = post(client, order.ca.code, *paid_notification(order, transaction_id="4200000000001"))
    second = paid_notification(order, transaction_id="4200000000002")
    return first, (order.ca.code, *second), 200


OUT_OF_ORDER = [
    older_signature_after_newer,
    older_delivery_after_the_window,
    notpay_after_success,
    second_transaction_after_success,
]


@pytest.mark.parametrize("scenario", OUT_OF_ORDER, ids=[s.__name__ for s in OUT_OF_ORDER])
def test_a_late_or_stale_delivery_after_the_payment_changes_nothing(
    client, order, time_machine, caplog, scenario
):
    first, (ca_code, headers, body), expected = scenario(client, order, time_machine)
    assert first.status_code == 200
    payment = Payment.objects.get(order=order)
    before = state(order)

    with caplog.at_level(logging.INFO):
        late = post(client, ca_code, headers, body)

    assert late.status_code == expected
    assert state(order) == before
    assert Payment.objects.get(order=order) == payment
    assert any(order.number in r.getMessage() or ca_code in r.getMessage() for r in caplog.records)


# --- hostile, before and after the genuine notification ------------------------------------


@pytest.mark.parametrize("phase", ["before", "after"])
@pytest.mark.parametrize(("build", "reason"), REFUSED, ids=[b.__name__ for b, _ in REFUSED])
def test_a_hostile_notification_is_refused_in_either_phase_and_the_genuine_one_still_counts(
    client, order, caplog, build, reason, phase
):
    genuine = paid_notification(order)
    if phase == "after":
        assert post(client, order.ca.code, *genuine).status_code == 200
    ca_code, headers, body = build(order)
    before = state(order)

    with caplog.at_level(logging.WARNING, logger="orders.payments.views"):
        response = post(client, ca_code, headers, body)

    assert response.status_code == 400
    assert response.json()["code"] == "FAIL"
    assert state(order) == before
    [logged] = refusals(caplog)
    assert reason in logged
    assert ca_code in logged
    if phase == "before":
        assert post(client, order.ca.code, *genuine).status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    assert Payment.objects.filter(order=order).count() == 1
    assert order.events.filter(to_status=OrderStatus.ISSUING).count() == 1


EXTRA = {
    "empty body": b"",
    "binary body": bytes(range(256)) * 4,
    "json array": b"[]",
    "json null": b"null",
    "no resource": b'{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}',
    "resource not an object": b'{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":1}',
    "wrong event type": (
        b'{"id":"EV-1","event_type":"REFUND.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM"}}'
    ),
    "invalid utf-8": b'{"id":"\xff\xfe"}',
}


@pytest.mark.parametrize("body", EXTRA.values(), ids=EXTRA.keys())
def test_a_validly_signed_body_that_is_not_a_notification_is_refused(client, order, caplog, body):
    """Signed with the right platform key: only the parser stands between it and the order."""
    headers = sandbox_platform(order.ca.wechatpay).sign(body)
    before = state(order)

    with caplog.at_level(logging.WARNING, logger="orders.payments.views"):
        response = post(client, order.ca.code, headers, body)

    assert response.status_code == 400
    assert state(order) == before
    assert len(refusals(caplog)) == 1
