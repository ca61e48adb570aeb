"""The WeChat Pay notification endpoint, 【支付】, and the sandbox cashier, through HTTP.

Notifications are built by each merchant's own sandbox platform (its keys read back from the
database, as the cashier does) and verified by the real v3 code path.
"""

import base64
import json
import logging

import pytest
from celery.exceptions import Retry
from django.core.management import call_command
from django.urls import reverse

from certificates.models import CAInstitution
from orders.models import Order, OrderEvent, Payment, WechatPayMerchant
from orders.payments.providers import SandboxWechatPayProvider, merchant_config, sandbox_platform
from orders.payments.views import MAX_NOTIFICATION_BYTES
from orders.states import OrderStatus
from orders.tasks import sandbox_notification_deliver
from orders.wechatpay import SandboxPlatform
from tests.factories import CAInstitutionFactory, PackageFactory, UserFactory, seat_topup_order
from tests.orders.test_payments import (
    authorized_order,
    capture_issuance,
    merchant_keys,
    paid_notification,
    paid_transaction,
    sandbox_merchant,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(ca) -> WechatPayMerchant:
    return sandbox_merchant(ca)


@pytest.fixture
def order(merchant, package) -> Order:
    return authorized_order(package=package)


@pytest.fixture
def other_merchant() -> WechatPayMerchant:
    return sandbox_merchant(CAInstitutionFactory(), slot=1)


def notify(client, ca_code: str, headers: dict, body: bytes):
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
        OrderEvent.objects.filter(order=order).count(),
    )


def refusals(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "orders.payments.views" and r.levelno == logging.WARNING
    ]


# --- accepted ---------------------------------------------------------------------------------


def test_a_valid_notification_is_acknowledged_and_sends_the_order_to_issuing(client, order):
    headers, body = paid_notification(order, transaction_id="4200000000202611270000000001")

    response = notify(client, order.ca.code, headers, body)

    assert response.status_code == 200
    assert response.content == b""
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    payment = Payment.objects.get(order=order)
    assert payment.transaction_id == "4200000000202611270000000001"
    assert payment.amount_fen == order.amount_fen
    assert payment.source == "notify"


def test_a_valid_notification_for_a_top_up_completes_it(client, merchant, ca):
    topup = seat_topup_order(applicant=UserFactory(), ca=ca, seats=3, years=2)
    headers, body = paid_notification(topup)

    response = notify(client, ca.code, headers, body)

    assert response.status_code == 200
    topup.refresh_from_db()
    assert topup.status == OrderStatus.COMPLETED


def test_the_same_notification_fifteen_times_records_one_payment_and_one_move(client, order):
    headers, body = paid_notification(order)

    statuses = {notify(client, order.ca.code, headers, body).status_code for _ in range(15)}

    assert statuses == {200}
    assert Payment.objects.filter(order=order).count() == 1
    assert order.events.filter(to_status=OrderStatus.ISSUING).count() == 1


def test_header_names_arrive_in_any_case(client, order):
    headers, body = paid_notification(order)

    response = notify(client, order.ca.code, {k.lower(): v for k, v in headers.items()}, body)

    assert response.status_code == 200


# --- refused ----------------------------------------------------------------------------------


def forged_signature(order):
    impostor = SandboxPlatform(
        private_key=merchant_keys(1)[1].private_key, serial=order.ca.wechatpay.platform_serial
    )
    merchant = order.ca.wechatpay
    return order.ca.code, *impostor.sign_notification(
        transaction=paid_transaction(order), api_v3_key=merchant_config(merchant).api_v3_key
    )


def unknown_serial(order):
    headers, body = paid_notification(order)
    headers["Wechatpay-Serial"] = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    return order.ca.code, headers, body


def stale_timestamp(order):
    import time

    return order.ca.code, *paid_notification(order, timestamp=int(time.time()) - 301)


def wrong_amount(order):
    return order.ca.code, *paid_notification(order, total=order.amount_fen - 1)


def wrong_payee(order):
    """Validly signed by another CA's platform for its own merchant, naming our order."""
    other = sandbox_merchant(CAInstitutionFactory(), slot=1)
    return other.ca.code, *paid_notification(order, merchant=other)


def another_cas_platform(order):
    """Another CA's notification posted to this CA's URL: its platform key is not ours."""
    other = sandbox_merchant(CAInstitutionFactory(), slot=1)
    return order.ca.code, *paid_notification(order, merchant=other)


def unknown_order(order):
    return order.ca.code, *paid_notification(order, out_trade_no="YQ2000010112345678")


def malformed_json(order):
    body = b'{"id": "EV-1", "event_type": "TRANSACTION.SUCCESS", '
    return order.ca.code, sandbox_platform(order.ca.wechatpay).sign(body), body


def tampered_ciphertext(order):
    _, body = paid_notification(order)
    envelope = json.loads(body)
    ciphertext = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    ciphertext[0] ^= 0x01
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(ciphertext)).decode()
    body = json.dumps(envelope, ensure_ascii=False).encode()
    # Signed again, validly: only the AEAD tag can catch the edit.
    return order.ca.code, sandbox_platform(order.ca.wechatpay).sign(body), body


def not_paid(order):
    return order.ca.code, *paid_notification(order, trade_state="NOTPAY")


def missing_headers(order):
    _, body = paid_notification(order)
    return order.ca.code, {}, body


REFUSED = [
    (forged_signature, "BadSignature"),
    (unknown_serial, "UnknownSerial"),
    (stale_timestamp, "StaleNotification"),
    (wrong_amount, "AmountMismatch"),
    (wrong_payee, "WrongPayee"),
    (another_cas_platform, "UnknownSerial"),
    (unknown_order, "UnknownOrder"),
    (malformed_json, "MalformedNotification"),
    (tampered_ciphertext, "DecryptionFailed"),
    (not_paid, "NotPaid"),
    (missing_headers, "MissingHeader"),
]


@pytest.mark.parametrize(("build", "reason"), REFUSED, ids=[b.__name__ for b, _ in REFUSED])
def test_a_notification_failing_a_check_is_refused_logged_and_changes_nothing(
    client, order, caplog, build, reason
):
    ca_code, headers, body = build(order)
    before = state(order)

    with caplog.at_level(logging.WARNING, logger="orders.payments.views"):
        response = notify(client, ca_code, headers, body)

    assert response.status_code == 400
    assert response.json()["code"] == "FAIL"
    assert response.json()["message"]
    assert state(order) == before
    [logged] = refusals(caplog)
    assert reason in logged
    assert ca_code in logged


def test_a_refusal_log_names_the_order_once_it_is_known(client, order, caplog):
    headers, body = paid_notification(order, total=1)

    with caplog.at_level(logging.WARNING, logger="orders.payments.views"):
        notify(client, order.ca.code, headers, body)

    [logged] = refusals(caplog)
    assert order.number in logged


def test_the_log_never_holds_the_api_v3_key_or_the_body(client, order, caplog):
    headers, body = paid_notification(order, total=1)
    api_v3_key = merchant_config(order.ca.wechatpay).api_v3_key

    with caplog.at_level(logging.DEBUG):
        notify(client, order.ca.code, headers, body)

    logged = caplog.text
    assert api_v3_key not in logged
    assert json.loads(body)["resource"]["ciphertext"] not in logged
    assert "sandbox-openid" not in logged


def test_an_oversized_body_is_refused_before_it_is_read(client, order, caplog):
    headers, _ = paid_notification(order)
    body = b"{" + b" " * MAX_NOTIFICATION_BYTES + b"}"
    before = state(order)

    with caplog.at_level(logging.WARNING, logger="orders.payments.views"):
        response = notify(client, order.ca.code, headers, body)

    assert response.status_code == 413
    assert state(order) == before
    assert refusals(caplog)


def test_an_unknown_ca_is_404(client, order):
    headers, body = paid_notification(order)

    assert notify(client, "no-such-ca", headers, body).status_code == 404
    assert not Payment.objects.exists()


def test_a_ca_without_a_merchant_account_is_404(client, order):
    headers, body = paid_notification(order)
    bare = CAInstitutionFactory()

    assert notify(client, bare.code, headers, body).status_code == 404


def test_get_is_405(client, order):
    response = client.get(reverse("payments:wechat_notify", args=[order.ca.code]))

    assert response.status_code == 405


def test_the_endpoint_needs_no_csrf_token_nor_login(order):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    headers, body = paid_notification(order)

    assert notify(strict, order.ca.code, headers, body).status_code == 200


# --- 【支付】 -----------------------------------------------------------------------------------


def test_pay_sends_the_applicant_to_the_cashier(client, order):
    client.force_login(order.applicant)

    response = client.post(reverse("payments:pay", args=[order.number]))

    assert response.status_code == 302
    assert response["Location"] == reverse("payments:sandbox_cashier", args=[order.number])
    order.refresh_from_db()
    assert order.payment_requested_at is not None


def test_pay_from_htmx_redirects_the_whole_page(client, order):
    client.force_login(order.applicant)

    response = client.post(
        reverse("payments:pay", args=[order.number]), headers={"HX-Request": "true"}
    )

    assert response["HX-Redirect"] == reverse("payments:sandbox_cashier", args=[order.number])


def test_pay_is_404_for_anyone_but_the_applicant(client, order):
    client.force_login(UserFactory())

    response = client.post(reverse("payments:pay", args=[order.number]))

    assert response.status_code == 404
    order.refresh_from_db()
    assert order.payment_requested_at is None


def test_pay_needs_a_login_and_a_post(client, order):
    url = reverse("payments:pay", args=[order.number])

    assert client.post(url).status_code == 302
    client.force_login(order.applicant)
    assert client.get(url).status_code == 405


def test_pay_for_an_order_that_cannot_be_paid_goes_back_with_the_reason(client, merchant, package):
    from tests.factories import new_certificate_order

    draft = new_certificate_order(applicant=UserFactory(), package=package)
    client.force_login(draft.applicant)

    response = client.post(reverse("payments:pay", args=[draft.number]))

    assert response.status_code == 302
    assert draft.number in response["Location"]
    page = client.get(response["Location"])
    assert "不能支付" in page.content.decode()


# --- the sandbox cashier ----------------------------------------------------------------------


@pytest.fixture
def at_cashier(client, order) -> Order:
    client.force_login(order.applicant)
    client.post(reverse("payments:pay", args=[order.number]))
    order.refresh_from_db()
    return order


def test_the_cashier_shows_the_payee_the_amount_and_the_order(client, at_cashier):
    response = client.get(reverse("payments:sandbox_cashier", args=[at_cashier.number]))

    page = response.content.decode()
    assert response.status_code == 200
    assert at_cashier.ca.name in page
    assert f"{at_cashier.amount_fen // 100:,}.{at_cashier.amount_fen % 100:02d}" in page
    assert at_cashier.number in page
    assert "确认支付" in page
    assert "取消" in page


def test_confirm_pays_through_the_notification_path_and_returns_to_the_order(
    client, at_cashier, caplog
):
    with caplog.at_level(logging.INFO, logger="orders.payments.services"):
        response = client.post(reverse("payments:sandbox_cashier", args=[at_cashier.number]))

    assert response.status_code == 302
    assert at_cashier.number in response["Location"]
    at_cashier.refresh_from_db()
    assert at_cashier.status == OrderStatus.ISSUING
    assert at_cashier.get_status_display() == "签发中"
    payment = Payment.objects.get(order=at_cashier)
    assert payment.source == "notify"
    assert payment.provider == "wechatpay_sandbox"
    assert payment.transaction_id.startswith("4200")
    assert any("payment recorded" in r.getMessage() for r in caplog.records)


def test_a_second_confirm_does_not_pay_twice(client, at_cashier):
    url = reverse("payments:sandbox_cashier", args=[at_cashier.number])
    client.post(url)

    response = client.post(url)

    assert response.status_code == 302
    assert Payment.objects.filter(order=at_cashier).count() == 1


def test_the_cashier_is_404_for_anyone_else(client, at_cashier):
    client.force_login(UserFactory())

    url = reverse("payments:sandbox_cashier", args=[at_cashier.number])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    at_cashier.refresh_from_db()
    assert at_cashier.status == OrderStatus.AUTHORIZED


def test_the_cashier_is_404_unless_the_provider_is_the_sandbox(client, at_cashier, settings):
    settings.YQ_PAYMENT_PROVIDER = "orders.payments.providers.WechatPayProvider"

    url = reverse("payments:sandbox_cashier", args=[at_cashier.number])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


def test_the_cashier_only_knows_orders_that_pay_opened(client, order):
    client.force_login(order.applicant)

    response = client.get(reverse("payments:sandbox_cashier", args=[order.number]))

    assert response.status_code == 404


# --- the demo data ----------------------------------------------------------------------------


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return list(CAInstitution.objects.select_related("wechatpay").order_by("sort_order", "id"))


def test_seeding_gives_each_demo_ca_a_sandbox_merchant_once(demo, settings):
    merchants = [ca.wechatpay for ca in demo]
    assert [m.mchid for m in merchants] == ["1900000101", "1900000102", "1900000103"]
    assert {m.appid for m in merchants} == {"wxd7demo000000001"}
    assert len({m.platform_serial for m in merchants}) == 3
    for merchant in merchants:
        config = merchant_config(merchant)
        assert len(config.api_v3_key) == 32
        assert sandbox_platform(merchant).public_key().public_numbers() == (
            config.platform_key(merchant.platform_serial).public_numbers()
        )
    stored = {m.pk: bytes(m.encrypted_api_v3_key) for m in merchants}

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    again = WechatPayMerchant.objects.all()
    assert {m.pk: bytes(m.encrypted_api_v3_key) for m in again} == stored


def test_a_seeded_ca_takes_a_payment_end_to_end(client, demo):
    ca = demo[0]
    order = authorized_order(package=PackageFactory(ca=ca))
    client.force_login(order.applicant)

    cashier = client.post(reverse("payments:pay", args=[order.number]))
    client.post(cashier["Location"])

    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    assert order.payment.payee_mchid == "1900000101"


# --- the sandbox's delivery with a real worker: over HTTP -------------------------------------


@pytest.fixture
def over_http(transactional_db, live_server, settings, monkeypatch):
    """What a worker does: no in-process shortcut, a POST to the public address."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.YQ_PUBLIC_BASE_URL = live_server.url
    live_server.issuance_queued = capture_issuance(monkeypatch)
    return live_server


def test_with_a_worker_the_cashiers_notification_is_posted_over_http(over_http):
    order = authorized_order(package=PackageFactory(ca=sandbox_merchant(CAInstitutionFactory()).ca))
    headers, body = SandboxWechatPayProvider().cashier_notification(order=order)

    status = sandbox_notification_deliver.run(
        ca_code=order.ca.code, headers=headers, body_b64=base64.b64encode(body).decode()
    )

    assert status == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    assert over_http.issuance_queued == [order.pk]


def test_with_a_worker_a_refused_notification_is_retried(over_http):
    order = authorized_order(package=PackageFactory(ca=sandbox_merchant(CAInstitutionFactory()).ca))
    headers, body = SandboxWechatPayProvider().cashier_notification(order=order)
    headers["Wechatpay-Signature"] = "Zm9yZ2Vk"

    with pytest.raises(Retry):
        sandbox_notification_deliver.run(
            ca_code=order.ca.code, headers=headers, body_b64=base64.b64encode(body).decode()
        )

    order.refresh_from_db()
    assert order.status == OrderStatus.AUTHORIZED


def test_a_transaction_already_recorded_for_another_order_is_refused_not_a_500(
    client, order, caplog
):
    tx = "4200000000202611270000000777"
    assert (
        notify(client, order.ca.code, *paid_notification(order, transaction_id=tx)).status_code
        == 200
    )
    other = seat_topup_order(applicant=order.applicant, ca=order.ca)

    response = notify(client, order.ca.code, *paid_notification(other, transaction_id=tx))

    assert response.status_code == 400
    assert other.__class__.objects.get(pk=other.pk).status == OrderStatus.AWAITING_PAYMENT
    assert Payment.objects.filter(transaction_id=tx).count() == 1
    assert any("already recorded" in r.getMessage() for r in caplog.records)
