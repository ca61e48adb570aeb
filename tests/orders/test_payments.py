"""Payments: starting one, recording one exactly once, the overdue sweep, the providers, and the
merchant secrets at rest. Never the network: the real provider talks to a fake WeChat Pay API
built on SandboxPlatform."""

import functools
import json
import logging
import os
import secrets
import subprocess
import sys
import types
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.urls import reverse
from django.utils import timezone

from certificates.keys import EncryptedDatabaseKeyBackend, KeyDecryptionError
from orders import wechatpay
from orders.models import Order, OrderEvent, Payment, WechatPayMerchant
from orders.payments import providers
from orders.payments.providers import (
    SandboxWechatPayProvider,
    WechatPayProvider,
    merchant_config,
    sandbox_platform,
)
from orders.payments.services import (
    PaymentNotAllowed,
    payment_settle,
    payment_start,
    wechatpay_merchant_create,
)
from orders.services import order_transition
from orders.states import OrderStatus
from orders.tasks import payments_settle_overdue
from orders.wechatpay import SandboxPlatform, Transaction
from tests.factories import (
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    new_certificate_order,
    seat_topup_order,
)

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
APPID = "wxd7demo000000001"


# --- helpers shared with the notify and integration tests ---------------------------------------


@functools.cache
def merchant_keys(slot: int) -> tuple[rsa.RSAPrivateKey, SandboxPlatform, str]:
    """RSA keys are slow to make: each slot's are made once per test session."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        SandboxPlatform.generate(),
        secrets.token_hex(16),
    )


def sandbox_merchant(ca, *, slot: int = 0, mchid: str | None = None) -> WechatPayMerchant:
    """A sandbox merchant for `ca`, stored through the same service seed_demo uses."""
    merchant_key, platform, api_v3_key = merchant_keys(slot)
    return wechatpay_merchant_create(
        ca=ca,
        mchid=mchid or f"19{ca.pk:08d}",
        appid=APPID,
        merchant_serial=f"{slot:040X}",
        merchant_private_key=merchant_key,
        api_v3_key=api_v3_key,
        platform_serial=platform.serial,
        platform_public_key=platform.public_key(),
        sandbox_platform=platform,
    )


def authorized_order(*, applicant=None, package=None) -> Order:
    package = package or PackageFactory()
    order = new_certificate_order(applicant=applicant or UserFactory(), package=package)
    for step in (OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED):
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def paid_transaction(order: Order, *, merchant: WechatPayMerchant | None = None, **changes):
    """The transaction dict WeChat Pay would report for `order` paid to `merchant`."""
    config = merchant_config(merchant or order.ca.wechatpay)
    data = SandboxPlatform.paid_transaction(
        config=config, out_trade_no=order.number, amount_fen=order.amount_fen
    )
    for name, value in changes.items():
        if name in ("total", "currency"):
            data["amount"][name] = value
        else:
            data[name] = value
    return data


def as_transaction(data: dict) -> Transaction:
    return wechatpay._transaction_from_dict(data)


def paid_notification(order: Order, *, merchant=None, timestamp=None, **changes):
    """(headers, body) of the notification the merchant's sandbox platform posts for `order`."""
    merchant = merchant or order.ca.wechatpay
    return sandbox_platform(merchant).sign_notification(
        transaction=paid_transaction(order, merchant=merchant, **changes),
        api_v3_key=merchant_config(merchant).api_v3_key,
        timestamp=timestamp,
    )


def capture_issuance(monkeypatch) -> list[int]:
    """Collect the order ids handed to certificates.tasks.certificate_issue.delay (a stand-in
    module takes its place should the task not exist in this tree)."""
    queued: list[int] = []
    fake = types.SimpleNamespace(delay=queued.append)
    try:
        import certificates.tasks as tasks_module
    except ImportError:
        tasks_module = types.ModuleType("certificates.tasks")
        monkeypatch.setitem(sys.modules, "certificates.tasks", tasks_module)
    monkeypatch.setattr(tasks_module, "certificate_issue", fake, raising=False)
    return queued


@pytest.fixture
def issuance_queued(monkeypatch) -> list[int]:
    return capture_issuance(monkeypatch)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def merchant(ca) -> WechatPayMerchant:
    return sandbox_merchant(ca)


@pytest.fixture
def order(merchant, package) -> Order:
    return authorized_order(package=package)


@pytest.fixture
def topup(merchant, ca) -> Order:
    return seat_topup_order(applicant=UserFactory(), ca=ca, seats=2, years=1)


def snapshot(order: Order) -> tuple:
    order.refresh_from_db()
    return (
        order.status,
        Payment.objects.filter(order=order).count(),
        OrderEvent.objects.filter(order=order).count(),
    )


# --- payment_start ----------------------------------------------------------------------------


def test_start_sends_the_applicant_to_the_sandbox_cashier_and_records_the_time(order):
    started = payment_start(order=order, actor=order.applicant, client_ip="127.0.0.1")

    assert started.redirect_url == reverse("payments:sandbox_cashier", args=[order.number])
    order.refresh_from_db()
    assert order.payment_requested_at is not None
    assert order.status == OrderStatus.AUTHORIZED


def test_start_accepts_a_top_up_awaiting_payment(topup):
    payment_start(order=topup, actor=topup.applicant, client_ip="127.0.0.1")

    topup.refresh_from_db()
    assert topup.payment_requested_at is not None


def test_start_refuses_anyone_but_the_applicant(order):
    with pytest.raises(PaymentNotAllowed, match="申请人"):
        payment_start(order=order, actor=UserFactory(), client_ip="127.0.0.1")

    order.refresh_from_db()
    assert order.payment_requested_at is None


@pytest.mark.parametrize("status", [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.DRAFT])
def test_start_refuses_an_order_not_yet_authorized(merchant, package, status):
    order = new_certificate_order(applicant=UserFactory(), package=package)
    if status != OrderStatus.DRAFT:
        order = order_transition(order=order, to=status, actor_label="测试")

    with pytest.raises(PaymentNotAllowed, match="不能支付"):
        payment_start(order=order, actor=order.applicant, client_ip="127.0.0.1")


def test_start_refuses_an_order_already_issuing(order):
    order_transition(order=order, to=OrderStatus.ISSUING, actor_label="测试")

    with pytest.raises(PaymentNotAllowed, match="签发中"):
        payment_start(order=order, actor=order.applicant, client_ip="127.0.0.1")


def test_start_refuses_an_order_already_paid(order):
    payment_settle(
        order_number=order.number, transaction=as_transaction(paid_transaction(order)), source="t"
    )
    order = Order.objects.get(pk=order.pk)
    order.status = OrderStatus.AUTHORIZED  # a stale copy of the order, read before the payment

    with pytest.raises(PaymentNotAllowed, match="已支付"):
        payment_start(order=order, actor=order.applicant, client_ip="127.0.0.1")


def test_start_refuses_a_ca_without_a_merchant_account():
    order = authorized_order()

    with pytest.raises(PaymentNotAllowed, match="暂未开通微信支付"):
        payment_start(order=order, actor=order.applicant, client_ip="127.0.0.1")


def test_start_does_not_mark_an_order_that_moved_meanwhile(order):
    stale = Order.objects.get(pk=order.pk)
    order_transition(order=order, to=OrderStatus.CANCELLED, actor_label="测试")

    with pytest.raises(PaymentNotAllowed, match="状态已变化"):
        payment_start(order=stale, actor=stale.applicant, client_ip="127.0.0.1")

    order.refresh_from_db()
    assert order.payment_requested_at is None


# --- payment_settle ---------------------------------------------------------------------------


def test_settle_records_the_payment_moves_the_order_to_issuing_and_queues_issuance(
    order, issuance_queued, django_capture_on_commit_callbacks
):
    data = paid_transaction(order)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        payment = payment_settle(
            order_number=order.number, transaction=as_transaction(data), source="notify"
        )

    assert payment.transaction_id == data["transaction_id"]
    assert payment.out_trade_no == order.number
    assert payment.amount_fen == order.amount_fen
    assert payment.payee_mchid == order.ca.wechatpay.mchid
    assert payment.provider == "wechatpay_sandbox"
    assert payment.source == "notify"
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    event = order.events.last()
    assert (event.from_status, event.to_status) == (OrderStatus.AUTHORIZED, OrderStatus.ISSUING)
    assert event.actor_label == "微信支付"
    assert event.reason == f"支付成功 {data['transaction_id']}"
    assert len(callbacks) == 1
    assert issuance_queued == [order.pk]


def test_settle_queues_issuance_only_once_the_transaction_commits(
    order, issuance_queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payment_settle(
            order_number=order.number,
            transaction=as_transaction(paid_transaction(order)),
            source="notify",
        )

    assert issuance_queued == []
    assert len(callbacks) == 1


def test_settle_completes_a_top_up_and_queues_its_invoice_not_issuance(
    topup, issuance_queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        payment_settle(
            order_number=topup.number,
            transaction=as_transaction(paid_transaction(topup)),
            source="notify",
        )

    topup.refresh_from_db()
    assert topup.status == OrderStatus.COMPLETED
    assert topup.events.last().reason == "支付成功"
    assert Payment.objects.filter(order=topup).count() == 1
    assert len(callbacks) == 1  # invoices.tasks.invoice_render (seats: tests/orders/test_topup.py)
    assert topup.invoice.amount_fen == topup.amount_fen
    assert issuance_queued == []


def test_the_same_transaction_again_returns_the_recorded_payment_and_changes_nothing(
    order, django_capture_on_commit_callbacks
):
    transaction = as_transaction(paid_transaction(order))
    first = payment_settle(order_number=order.number, transaction=transaction, source="notify")
    before = snapshot(order)

    with django_capture_on_commit_callbacks() as callbacks:
        again = payment_settle(order_number=order.number, transaction=transaction, source="query")

    assert again == first
    assert again.source == "notify"
    assert snapshot(order) == before
    assert callbacks == []


def test_a_second_transaction_for_a_paid_order_changes_nothing_and_is_logged(order, caplog):
    first = payment_settle(
        order_number=order.number,
        transaction=as_transaction(paid_transaction(order)),
        source="notify",
    )
    before = snapshot(order)
    second = as_transaction(paid_transaction(order))

    with caplog.at_level(logging.ERROR, logger="orders.payments.services"):
        result = payment_settle(order_number=order.number, transaction=second, source="notify")

    assert result == first
    assert snapshot(order) == before
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    message = record.getMessage()
    assert "paid twice" in message
    assert "refund" in message
    assert second.transaction_id in message
    assert order.number in message


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"total": 1}, wechatpay.AmountMismatch),
        ({"currency": "USD"}, wechatpay.CurrencyMismatch),
        ({"mchid": "1999999999"}, wechatpay.WrongPayee),
        ({"appid": "wx0000000000000000"}, wechatpay.WrongPayee),
        ({"trade_state": "NOTPAY"}, wechatpay.NotPaid),
    ],
    ids=["amount", "currency", "mchid", "appid", "not-paid"],
)
def test_a_transaction_that_does_not_pay_this_order_is_refused_and_changes_nothing(
    order, changes, error
):
    before = snapshot(order)

    with pytest.raises(error):
        payment_settle(
            order_number=order.number,
            transaction=as_transaction(paid_transaction(order, **changes)),
            source="notify",
        )

    assert snapshot(order) == before


def test_a_payment_to_another_cas_merchant_is_refused(order):
    other = sandbox_merchant(CAInstitutionFactory(), slot=1)
    before = snapshot(order)

    with pytest.raises(wechatpay.WrongPayee):
        payment_settle(
            order_number=order.number,
            transaction=as_transaction(paid_transaction(order, merchant=other)),
            source="notify",
        )

    assert snapshot(order) == before


def test_a_transaction_for_an_unknown_order_is_refused(order):
    data = paid_transaction(order, out_trade_no="YQ2000010100000000")

    with pytest.raises(wechatpay.UnknownOrder):
        payment_settle(
            order_number="YQ2000010100000000", transaction=as_transaction(data), source="notify"
        )

    assert not Payment.objects.exists()


def test_money_for_a_cancelled_order_is_recorded_and_logged_but_the_order_stays(order, caplog):
    order = order_transition(order=order, to=OrderStatus.CANCELLED, actor_label="测试")
    events = order.events.count()

    with caplog.at_level(logging.ERROR, logger="orders.payments.services"):
        payment = payment_settle(
            order_number=order.number,
            transaction=as_transaction(paid_transaction(order)),
            source="notify",
        )

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.events.count() == events
    assert Payment.objects.get(order=order) == payment
    assert any("refund" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


# --- the overdue sweep ------------------------------------------------------------------------


class QueryAnswers:
    """What the provider's query answers: order number → transaction dict (or an exception)."""

    def __init__(self) -> None:
        self.answers: dict[str, dict | Exception] = {}
        self.asked: list[str] = []

    def __setitem__(self, number: str, answer: dict | Exception) -> None:
        self.answers[number] = answer

    def query(self, *, order: Order) -> Transaction | None:
        self.asked.append(order.number)
        answer = self.answers.get(order.number)
        if isinstance(answer, Exception):
            raise answer
        return as_transaction(answer) if answer else None


@pytest.fixture
def answered_queries(monkeypatch) -> QueryAnswers:
    answers = QueryAnswers()
    monkeypatch.setattr(SandboxWechatPayProvider, "query", answers.query)
    return answers


def requested(order: Order, *, seconds_ago: int) -> Order:
    Order.objects.filter(pk=order.pk).update(
        payment_requested_at=timezone.now() - timedelta(seconds=seconds_ago)
    )
    order.refresh_from_db()
    return order


def test_the_sweep_settles_an_overdue_paid_order_through_the_query(
    order, answered_queries, settings
):
    settings.YQ_PAYMENT_SETTLE_AFTER_SECONDS = 120
    order = requested(order, seconds_ago=300)
    answered_queries[order.number] = paid_transaction(order)

    assert payments_settle_overdue() == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    assert order.payment.source == "query"


def test_the_sweep_settles_an_overdue_top_up(topup, answered_queries):
    topup = requested(topup, seconds_ago=3600)
    answered_queries[topup.number] = paid_transaction(topup)

    assert payments_settle_overdue() == 1

    topup.refresh_from_db()
    assert topup.status == OrderStatus.COMPLETED


def test_the_sweep_leaves_recent_unrequested_stale_and_paid_orders_alone(
    merchant, package, answered_queries, settings
):
    settings.YQ_PAYMENT_SETTLE_AFTER_SECONDS = 120
    recent = requested(authorized_order(package=package), seconds_ago=30)
    never = authorized_order(package=package)
    stale = requested(authorized_order(package=package), seconds_ago=3 * 24 * 3600)
    paid = requested(authorized_order(package=package), seconds_ago=300)
    payment_settle(
        order_number=paid.number, transaction=as_transaction(paid_transaction(paid)), source="t"
    )
    for order in (recent, never, stale, paid):
        answered_queries[order.number] = paid_transaction(order)

    assert payments_settle_overdue() == 0

    assert answered_queries.asked == []
    for order in (recent, never, stale):
        order.refresh_from_db()
        assert order.status == OrderStatus.AUTHORIZED


def test_an_unpaid_order_is_queried_and_left_as_it_is(order, answered_queries):
    order = requested(order, seconds_ago=300)

    assert payments_settle_overdue() == 0

    assert answered_queries.asked == [order.number]
    order.refresh_from_db()
    assert order.status == OrderStatus.AUTHORIZED


def test_one_failing_order_does_not_stop_the_sweep(merchant, package, answered_queries, caplog):
    failing = requested(authorized_order(package=package), seconds_ago=600)
    mismatched = requested(authorized_order(package=package), seconds_ago=500)
    good = requested(authorized_order(package=package), seconds_ago=400)
    answered_queries[failing.number] = wechatpay.WechatPayError(code="NETWORK_ERROR", message="x")
    answered_queries[mismatched.number] = paid_transaction(mismatched, total=1)
    answered_queries[good.number] = paid_transaction(good)

    with caplog.at_level(logging.ERROR, logger="orders.tasks"):
        assert payments_settle_overdue() == 1

    good.refresh_from_db()
    assert good.status == OrderStatus.ISSUING
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert failing.number in logged
    assert mismatched.number in logged


def test_the_sandbox_query_answers_none_until_a_payment_is_recorded(order):
    provider = SandboxWechatPayProvider()
    assert provider.query(order=order) is None

    data = paid_transaction(order)
    payment_settle(order_number=order.number, transaction=as_transaction(data), source="notify")
    order = Order.objects.get(pk=order.pk)

    answer = provider.query(order=order)
    assert answer.transaction_id == data["transaction_id"]
    assert answer.trade_state == "SUCCESS"
    assert answer.amount_total == order.amount_fen


# --- the real provider, against a fake WeChat Pay API -----------------------------------------


class FakeWechatPayApi:
    """WeChat Pay's side: checks each request's signature as the real server does and answers
    with responses signed by the merchant's platform key."""

    def __init__(self, merchant: WechatPayMerchant, answers: dict) -> None:
        self.merchant_key, self.platform, _ = merchant_keys(0)
        self.api_base = "https://api.mch.weixin.qq.com"
        self.answers = answers  # (method, path) -> (status, dict | None)
        self.sent: list[tuple[str, str, dict | None]] = []

    def __call__(self, method, url, headers, body):
        path = url.removeprefix(self.api_base)
        SandboxPlatform.verify_authorization(
            method, path, body.decode(), headers["Authorization"], self.merchant_key.public_key()
        )
        self.sent.append((method, path, json.loads(body) if body else None))
        status, answer = self.answers[(method, path.split("?")[0])]
        raw = json.dumps(answer).encode() if answer is not None else b""
        return status, self.platform.sign_response(status, raw), raw


@pytest.fixture
def fake_api(monkeypatch, merchant, settings):
    settings.YQ_PAYMENT_PROVIDER = "orders.payments.providers.WechatPayProvider"
    settings.YQ_WECHATPAY_API_BASE = "https://api.mch.weixin.qq.com"
    settings.YQ_PUBLIC_BASE_URL = "https://yueqiqian.example.cn"
    api = FakeWechatPayApi(merchant, {})
    monkeypatch.setattr(wechatpay, "urllib_transport", api)
    return api


def test_the_real_provider_places_a_signed_h5_order_and_returns_to_the_order_page(order, fake_api):
    fake_api.answers[("POST", "/v3/pay/transactions/h5")] = (
        200,
        {"h5_url": "https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1&package=1"},
    )

    started = payment_start(order=order, actor=order.applicant, client_ip="203.0.113.7")

    [(method, path, payload)] = fake_api.sent
    assert (method, path) == ("POST", "/v3/pay/transactions/h5")
    assert payload["out_trade_no"] == order.number
    assert payload["amount"] == {"total": order.amount_fen, "currency": "CNY"}
    assert payload["mchid"] == order.ca.wechatpay.mchid
    assert payload["notify_url"] == (
        f"https://yueqiqian.example.cn/pay/wechat/notify/{order.ca.code}/"
    )
    assert payload["scene_info"]["payer_client_ip"] == "203.0.113.7"
    assert payload["description"].startswith("粤企签数字证书-")
    url = urlsplit(started.redirect_url)
    assert url.netloc == "wx.tenpay.com"
    [back] = parse_qs(url.query)["redirect_url"]
    assert back == "https://yueqiqian.example.cn" + reverse("orders:detail", args=[order.number])


def test_the_real_provider_query_returns_only_a_successful_transaction(order, fake_api):
    path = f"/v3/pay/transactions/out-trade-no/{order.number}"
    provider = WechatPayProvider()

    fake_api.answers[("GET", path)] = (200, paid_transaction(order, trade_state="NOTPAY"))
    assert provider.query(order=order) is None

    fake_api.answers[("GET", path)] = (200, paid_transaction(order))
    paid = provider.query(order=order)
    assert paid.trade_state == "SUCCESS"
    assert paid.out_trade_no == order.number


def test_the_real_provider_closes_an_order(order, fake_api):
    path = f"/v3/pay/transactions/out-trade-no/{order.number}/close"
    fake_api.answers[("POST", path)] = (204, None)

    WechatPayProvider().close(order=order)

    assert fake_api.sent == [("POST", path, {"mchid": order.ca.wechatpay.mchid})]


def test_a_wechatpay_failure_on_pay_shows_a_message_and_marks_nothing(order, fake_api, client):
    fake_api.answers[("POST", "/v3/pay/transactions/h5")] = (
        500,
        {"code": "SYSTEM_ERROR", "message": "系统错误"},
    )
    client.force_login(order.applicant)

    response = client.post(reverse("payments:pay", args=[order.number]), follow=True)

    assert "微信支付暂时不可用" in response.content.decode()
    order.refresh_from_db()
    assert order.payment_requested_at is None


def test_the_providers_module_imports_no_models():
    """Production settings import the provider class while settings load, before apps exist."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "yueqiqian.settings"}
    code = (
        "import orders.payments.providers as p; "
        "assert p.WechatPayProvider.sandbox is False; "
        "assert p.SandboxWechatPayProvider.sandbox is True"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr


def test_the_provider_setting_picks_the_class(settings):
    settings.YQ_PAYMENT_PROVIDER = "orders.payments.providers.WechatPayProvider"
    assert type(providers.payment_provider()) is WechatPayProvider


# --- merchant secrets at rest -----------------------------------------------------------------


def test_merchant_secrets_are_stored_encrypted_and_open_only_under_their_mchid(merchant):
    merchant_key, platform, api_v3_key = merchant_keys(0)
    stored = WechatPayMerchant.objects.get(pk=merchant.pk)

    assert api_v3_key.encode() not in bytes(stored.encrypted_api_v3_key)
    config = merchant_config(stored)
    assert config.api_v3_key == api_v3_key
    assert config.merchant_private_key.private_numbers() == merchant_key.private_numbers()
    assert sandbox_platform(stored).public_key().public_numbers() == (
        platform.public_key().public_numbers()
    )
    backend = EncryptedDatabaseKeyBackend()
    with pytest.raises(KeyDecryptionError):
        backend.open_secret(stored.encrypted_api_v3_key, context=b"1900000999")


def test_a_sealed_secret_never_opens_as_a_private_key_nor_the_reverse():
    backend = EncryptedDatabaseKeyBackend()
    key, _, _ = merchant_keys(0)
    sealed = backend.seal_secret(b"k" * 32, context=b"m")
    wrapped = backend.wrap(key, context=b"m")

    assert backend.open_secret(sealed, context=b"m") == b"k" * 32
    with pytest.raises(KeyDecryptionError):
        backend.unwrap(sealed, context=b"m")
    with pytest.raises(KeyDecryptionError):
        backend.open_secret(wrapped, context=b"m")


def test_a_sandbox_platform_must_match_the_platform_key_it_is_stored_with(ca):
    merchant_key, platform, api_v3_key = merchant_keys(0)
    _, other_platform, _ = merchant_keys(1)

    with pytest.raises(ValueError, match="sandbox platform"):
        wechatpay_merchant_create(
            ca=ca,
            mchid="1900000555",
            appid=APPID,
            merchant_serial="AB",
            merchant_private_key=merchant_key,
            api_v3_key=api_v3_key,
            platform_serial=platform.serial,
            platform_public_key=platform.public_key(),
            sandbox_platform=other_platform,
        )
