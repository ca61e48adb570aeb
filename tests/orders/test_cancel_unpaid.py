"""Orders left unpaid are cancelled (已取消) YQ_UNPAID_ORDER_TTL_HOURS after the applicant last went
to pay, their WeChat Pay order closed first; an order that may still be paid is never cancelled.
The provider is the sandbox with its close and query watched; time is frozen."""

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from certificates.models import AgreementVersion
from orders.models import Order, OrderEvent, Payment
from orders.payments.providers import SandboxWechatPayProvider
from orders.payments.services import payment_settle, payment_start
from orders.services import agreement_accept, order_transition
from orders.states import OrderStatus
from orders.tasks import orders_cancel_unpaid
from orders.wechatpay import WechatPayError
from tests.factories import (
    AgreementVersionFactory,
    UserFactory,
    filled_application,
    new_certificate_order,
    seat_topup_order,
)
from tests.orders.test_payments import as_transaction, paid_transaction, sandbox_merchant

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
TTL = timedelta(hours=72)


class WechatPay:
    """What the cancel sweep asked the (sandbox) provider, and what it answers."""

    def __init__(self) -> None:
        self.closed: list[str] = []
        self.queried: list[str] = []
        self.close_fails_for: set[str] = set()
        self.paid: dict[str, object] = {}
        self.on_close = None

    def close(self, provider, *, order: Order) -> None:
        self.closed.append(order.number)
        if order.number in self.close_fails_for:
            raise WechatPayError(code="SYSTEM_ERROR", message="系统繁忙", status=500)
        if self.on_close:
            self.on_close(order)

    def query(self, provider, *, order: Order):
        self.queried.append(order.number)
        return self.paid.get(order.number)


@pytest.fixture
def wechat(monkeypatch) -> WechatPay:
    watched = WechatPay()
    monkeypatch.setattr(
        SandboxWechatPayProvider, "close", lambda self, *, order: watched.close(self, order=order)
    )
    monkeypatch.setattr(
        SandboxWechatPayProvider, "query", lambda self, *, order: watched.query(self, order=order)
    )
    return watched


@pytest.fixture
def at(time_machine):
    def _at(moment: datetime) -> None:
        time_machine.move_to(moment, tick=False)

    return _at


@pytest.fixture
def merchant(ca):
    return sandbox_merchant(ca)


def authorized(package) -> Order:
    order = new_certificate_order(applicant=UserFactory(), package=package)
    for step in (OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED):
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def sent_to_pay(order: Order) -> Order:
    payment_start(order=order, actor=order.applicant, client_ip="127.0.0.1")
    return order


def status_of(order: Order) -> str:
    order.refresh_from_db(fields=["status"])
    return order.status


def test_an_unpaid_order_is_cancelled_when_the_ttl_has_passed_and_not_a_second_before(
    merchant, package, wechat, at
):
    at(T0)
    order = sent_to_pay(authorized(package))

    at(T0 + TTL - timedelta(seconds=1))
    assert orders_cancel_unpaid() == 0
    assert status_of(order) == OrderStatus.AUTHORIZED
    assert wechat.closed == []

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 1

    assert status_of(order) == OrderStatus.CANCELLED
    assert wechat.closed == [order.number]
    event = OrderEvent.objects.filter(order=order).last()
    assert (event.from_status, event.to_status) == (OrderStatus.AUTHORIZED, OrderStatus.CANCELLED)
    assert event.actor is None
    assert event.actor_display == "系统"
    assert event.reason == "超时未支付，订单已取消"


def test_cancelling_again_changes_nothing(merchant, package, wechat, at):
    at(T0)
    order = sent_to_pay(authorized(package))
    at(T0 + TTL)
    orders_cancel_unpaid()

    assert orders_cancel_unpaid() == 0
    assert wechat.closed == [order.number]
    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.CANCELLED).count() == 1


def test_the_ttl_runs_from_the_last_time_the_applicant_went_to_pay(merchant, package, wechat, at):
    at(T0)
    order = authorized(package)
    at(T0 + timedelta(hours=48))
    sent_to_pay(order)

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 0
    at(T0 + timedelta(hours=48) + TTL)
    assert orders_cancel_unpaid() == 1
    assert status_of(order) == OrderStatus.CANCELLED


def test_an_order_never_sent_to_pay_is_cancelled_with_nothing_to_close(
    merchant, package, wechat, at
):
    at(T0)
    order = authorized(package)

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 1

    assert status_of(order) == OrderStatus.CANCELLED
    assert wechat.closed == []
    assert wechat.queried == []


def test_a_top_up_waiting_for_payment_is_cancelled_too(merchant, ca, wechat, at):
    at(T0)
    topup = sent_to_pay(seat_topup_order(applicant=UserFactory(), ca=ca))

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 1

    assert status_of(topup) == OrderStatus.CANCELLED
    assert wechat.closed == [topup.number]


def test_the_ttl_is_a_setting(merchant, package, wechat, at, settings):
    settings.YQ_UNPAID_ORDER_TTL_HOURS = 2
    at(T0)
    order = sent_to_pay(authorized(package))

    at(T0 + timedelta(hours=2))
    assert orders_cancel_unpaid() == 1
    assert status_of(order) == OrderStatus.CANCELLED


def test_a_failing_close_keeps_the_order_until_a_later_run_closes_it(
    merchant, package, wechat, at, caplog
):
    at(T0)
    order = sent_to_pay(authorized(package))
    wechat.close_fails_for.add(order.number)

    at(T0 + TTL)
    with caplog.at_level(logging.WARNING, logger="orders.expiry"):
        assert orders_cancel_unpaid() == 0
    assert status_of(order) == OrderStatus.AUTHORIZED
    assert f"unpaid order {order.number}: closing its WeChat Pay order failed" in caplog.text

    wechat.close_fails_for.clear()
    at(T0 + TTL + timedelta(minutes=10))
    assert orders_cancel_unpaid() == 1
    assert status_of(order) == OrderStatus.CANCELLED


def test_one_failing_order_does_not_stop_the_sweep(merchant, package, wechat, at):
    at(T0)
    stuck, other = sent_to_pay(authorized(package)), sent_to_pay(authorized(package))
    wechat.close_fails_for.add(stuck.number)

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 1

    assert status_of(stuck) == OrderStatus.AUTHORIZED
    assert status_of(other) == OrderStatus.CANCELLED


def test_an_order_with_a_payment_is_never_cancelled(merchant, package, wechat, at):
    at(T0)
    order = sent_to_pay(authorized(package))
    # A payment recorded but the order not moved on (say, by hand): money is there, keep it.
    Payment.objects.create(
        order=order,
        out_trade_no=order.number,
        transaction_id="4200000000000001",
        amount_fen=order.amount_fen,
        payee_mchid=merchant.mchid,
        paid_at=T0,
        source="notify",
    )

    at(T0 + TTL * 2)
    assert orders_cancel_unpaid() == 0

    assert status_of(order) == OrderStatus.AUTHORIZED
    assert wechat.closed == []


def test_a_payment_settled_while_the_order_is_being_closed_keeps_the_order(
    merchant, package, wechat, at
):
    at(T0)
    order = sent_to_pay(authorized(package))
    # The notification lands between the close and the cancel.
    wechat.on_close = lambda o: payment_settle(
        order_number=o.number, transaction=as_transaction(paid_transaction(o)), source="notify"
    )

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 0

    assert status_of(order) == OrderStatus.ISSUING
    assert Payment.objects.filter(order=order).exists()


def test_an_order_paid_whose_notification_was_lost_is_settled_not_cancelled(
    merchant, package, wechat, at
):
    at(T0)
    order = sent_to_pay(authorized(package))
    wechat.paid[order.number] = as_transaction(paid_transaction(order))

    at(T0 + TTL)
    assert orders_cancel_unpaid() == 0

    assert status_of(order) == OrderStatus.ISSUING
    assert Payment.objects.get(order=order).source == "query"
    assert wechat.closed == []


def test_an_order_the_applicant_went_to_pay_meanwhile_is_not_cancelled(
    merchant, package, wechat, at
):
    at(T0)
    order = authorized(package)
    at(T0 + TTL)
    from orders.expiry import order_cancel_unpaid, orders_unpaid_overdue

    [due] = orders_unpaid_overdue(now=T0 + TTL)
    sent_to_pay(order)  # after the sweep read it, before it took the lock

    assert order_cancel_unpaid(order=due, now=T0 + TTL) is None
    assert status_of(order) == OrderStatus.AUTHORIZED


def test_orders_not_waiting_for_payment_are_left_alone(merchant, package, wechat, at):
    at(T0)
    draft = new_certificate_order(applicant=UserFactory(), package=package)
    waiting = order_transition(
        order=new_certificate_order(applicant=UserFactory(), package=package),
        to=OrderStatus.AWAITING_AUTHORIZATION,
        actor_label="测试",
    )
    issuing = order_transition(
        order=authorized(package), to=OrderStatus.ISSUING, actor_label="测试"
    )

    at(T0 + TTL * 10)
    assert orders_cancel_unpaid() == 0

    assert [status_of(o) for o in (draft, waiting, issuing)] == [
        OrderStatus.DRAFT,
        OrderStatus.AWAITING_AUTHORIZATION,
        OrderStatus.ISSUING,
    ]


def test_a_cancelled_application_frees_the_enterprise_for_a_new_one(merchant, package, wechat, at):
    AgreementVersionFactory(ca=package.ca)
    agreement = AgreementVersion.objects.get(ca=package.ca)
    at(T0)
    applicant = UserFactory()
    order = filled_application(applicant=applicant, package=package)
    order = agreement_accept(
        order=order, actor=applicant, agreement=agreement, ip="", user_agent=""
    )
    order = order_transition(order=order, to=OrderStatus.AUTHORIZED, actor_label="测试")

    at(T0 + TTL)
    orders_cancel_unpaid()
    again = filled_application(applicant=applicant, package=package, credit_code=order.credit_code)
    again = agreement_accept(
        order=again, actor=applicant, agreement=agreement, ip="", user_agent=""
    )

    assert status_of(order) == OrderStatus.CANCELLED
    assert again.status == OrderStatus.AWAITING_AUTHORIZATION
