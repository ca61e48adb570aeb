"""(三)数字证书增加员工数量 【新增授权数量】: the page and its live price, who may top up which
certificate, the order priced on the server, and the seats granted exactly once when paid —
belonging to the enterprise, so they carry over to its next certificate."""

import datetime
import secrets

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import EmployeeAuthorization, EnterpriseCertificate, SeatGrant
from certificates.selectors import agreement_current, seats_total
from orders.models import Order, Payment
from orders.payments.services import payment_settle
from orders.services import agreement_accept, order_transition
from orders.states import OrderKind, OrderStatus
from orders.topup import TopupError, topup_order_create, topup_seats_grant
from tests.factories import (
    AgreementVersionFactory,
    UserFactory,
    filled_application,
    make_credit_code,
)
from tests.orders.test_payments import (
    as_transaction,
    paid_notification,
    paid_transaction,
    sandbox_merchant,
)

pytestmark = pytest.mark.django_db
CREDIT_CODE = make_credit_code()
OTHER_CREDIT_CODE = make_credit_code("91440101MA5CXXXX1")


def issued_certificate(
    *,
    holder,
    package,
    credit_code: str = CREDIT_CODE,
    status: str = EnterpriseCertificate.Status.VALID,
    not_after: datetime.datetime | None = None,
) -> EnterpriseCertificate:
    """A completed application and its certificate row, as issuance leaves them (without the
    slow key and seal work, which tests/certificates covers)."""
    order = filled_application(applicant=holder, package=package, credit_code=credit_code)
    agreement = agreement_current(ca=package.ca) or AgreementVersionFactory(ca=package.ca)
    order = agreement_accept(
        order=order, actor=holder, agreement=agreement, ip="127.0.0.1", user_agent="pytest"
    )
    for step in (OrderStatus.AUTHORIZED, OrderStatus.ISSUING, OrderStatus.COMPLETED):
        order = order_transition(order=order, to=step, actor_label="测试")
    now = timezone.now()
    return EnterpriseCertificate.objects.create(
        order=order,
        ca=package.ca,
        holder=holder,
        status=status,
        enterprise_name=order.enterprise_name,
        credit_code=order.credit_code,
        legal_rep_name=order.legal_rep_name,
        serial_hex=secrets.token_hex(10),
        not_before=now - datetime.timedelta(days=30),
        not_after=not_after or now + datetime.timedelta(days=335),
        issued_at=now - datetime.timedelta(days=30),
    )


@pytest.fixture
def holder(db):
    return UserFactory()


@pytest.fixture
def merchant(ca):
    return sandbox_merchant(ca)


@pytest.fixture
def certificate(holder, package, merchant) -> EnterpriseCertificate:
    return issued_certificate(holder=holder, package=package)


@pytest.fixture
def holder_client(client, holder):
    client.force_login(holder)
    return client


def start_url(certificate) -> str:
    return reverse("orders:topup_start", args=[certificate.pk])


def preview(client, certificate, **data):
    """The htmx post every change of the form makes, for the price."""
    return client.post(start_url(certificate), data, headers={"HX-Request": "true"})


def submit(client, certificate, **data):
    """【下一步】."""
    return client.post(start_url(certificate), {"next": "1", **data})


def topup(certificate, *, seats=5, years=2) -> Order:
    return topup_order_create(
        certificate=certificate, actor=certificate.holder, seats=seats, years=years
    )


def notify(client, order: Order, headers: dict, body: bytes):
    return client.post(
        reverse("payments:wechat_notify", args=[order.ca.code]),
        data=body,
        content_type="application/json",
        headers=headers,
    )


# ---- 选择数量: the page and its price --------------------------------------------------------


def test_the_page_offers_seats_and_years_with_the_price_and_next(holder_client, certificate):
    response = holder_client.get(start_url(certificate))

    page = response.content.decode()
    assert response.status_code == 200
    for label in ("选择数量", "订单详情", "支付"):
        assert f'<span class="stepper-label">{label}</span>' in page
    assert '<label for="id_seats">新增授权数量</label>' in page
    assert '<label for="id_years">年限</label>' in page
    assert all(f'<option value="{y}"' in page for y in range(1, 6))
    assert '<option value="6"' not in page
    assert 'data-testid="price">¥100.00<' in page
    assert ">下一步</button>" in page
    assert certificate.enterprise_name in page
    assert 'data-testid="seats-now">已用 1 / 共 1<' in page
    # The live price posts the form on change; without JavaScript the form posts itself.
    assert f'hx-post="{start_url(certificate)}"' in page
    assert f'action="{start_url(certificate)}"' in page


@pytest.mark.parametrize(
    ("seats", "years", "shown"),
    [
        (5, 2, "¥1,000.00"),
        (10, 5, "¥5,000.00"),
        (1, 5, "¥500.00"),
        (1, 1, "¥100.00"),
        (500, 5, "¥250,000.00"),
    ],
)
def test_the_price_is_100_yuan_per_seat_per_year(holder_client, certificate, seats, years, shown):
    response = preview(holder_client, certificate, seats=seats, years=years)

    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<div id="topup-price"')
    assert f'data-testid="price">{shown}<' in fragment
    assert f"{seats} 个授权 × {years} 年" in fragment
    assert not Order.objects.filter(kind=OrderKind.SEAT_TOPUP).exists()


@pytest.mark.parametrize(
    ("seats", "years", "fen"), [(5, 2, 1000_00), (10, 5, 5000_00), (1, 5, 500_00)]
)
def test_next_creates_the_order_at_the_servers_price(holder_client, certificate, seats, years, fen):
    response = submit(holder_client, certificate, seats=seats, years=years)

    order = Order.objects.get(kind=OrderKind.SEAT_TOPUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[order.number])
    assert order.amount_fen == fen
    assert (order.extra_seats, order.years) == (seats, years)


REFUSALS = [
    pytest.param({"seats": "0", "years": "1"}, "新增授权数量至少为 1", id="0-seats"),
    pytest.param({"seats": "-3", "years": "1"}, "新增授权数量至少为 1", id="negative-seats"),
    pytest.param({"seats": "501", "years": "1"}, "新增授权数量一次最多 500 个", id="501-seats"),
    pytest.param({"seats": "abc", "years": "2"}, "请输入整数", id="non-numeric-seats"),
    pytest.param({"seats": "2.5", "years": "2"}, "请输入整数", id="fractional-seats"),
    pytest.param({"seats": "", "years": "2"}, "请输入新增授权数量", id="no-seats"),
    pytest.param({"seats": "5", "years": "6"}, "年限须为 1–5 年", id="6-years"),
    pytest.param({"seats": "5", "years": "0"}, "年限须为 1–5 年", id="0-years"),
    pytest.param({"seats": "5", "years": "two"}, "年限须为 1–5 年", id="non-numeric-years"),
]


@pytest.mark.parametrize(("data", "message"), REFUSALS)
def test_a_bad_choice_is_refused_in_chinese_and_creates_no_order(
    holder_client, certificate, data, message
):
    response = submit(holder_client, certificate, **data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Order.objects.filter(kind=OrderKind.SEAT_TOPUP).exists()


@pytest.mark.parametrize(("data", "message"), REFUSALS)
def test_the_live_price_of_a_bad_choice_is_a_dash_with_the_reason(
    holder_client, certificate, data, message
):
    response = preview(holder_client, certificate, **data)

    fragment = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="price">—<' in fragment
    assert message in fragment


def test_without_javascript_a_plain_post_is_next(holder_client, certificate):
    # A browser without htmx sends no `next` when Enter submits from a field.
    response = holder_client.post(start_url(certificate), {"seats": "3", "years": "1"})

    assert response.status_code == 302
    assert Order.objects.get(kind=OrderKind.SEAT_TOPUP).amount_fen == 300_00


def test_the_amount_is_the_servers_whatever_the_client_posts(holder_client, certificate, package):
    other = issued_certificate(holder=UserFactory(), package=package, credit_code=OTHER_CREDIT_CODE)

    submit(
        holder_client,
        certificate,
        seats=5,
        years=2,
        amount_fen="1",
        price="0.01",
        extra_seats="500",
        kind=OrderKind.NEW_CERTIFICATE,
        target_certificate=str(other.pk),
        credit_code=OTHER_CREDIT_CODE,
    )

    order = Order.objects.get(kind=OrderKind.SEAT_TOPUP)
    assert order.amount_fen == 1000_00
    assert order.extra_seats == 5
    assert order.target_certificate == certificate
    assert order.credit_code == CREDIT_CODE


def test_the_order_is_made_out_like_the_certificate_and_waits_for_payment(
    holder_client, certificate, holder
):
    submit(holder_client, certificate, seats=5, years=2)

    order = Order.objects.get(kind=OrderKind.SEAT_TOPUP)
    issued_for = certificate.order
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert order.applicant == holder
    assert order.ca == certificate.ca
    assert order.package is None
    assert order.target_certificate == certificate
    assert (order.credit_code, order.enterprise_name) == (
        certificate.credit_code,
        certificate.enterprise_name,
    )
    assert (order.invoice_title, order.invoice_tax_id, order.invoice_email) == (
        issued_for.invoice_title,
        issued_for.invoice_tax_id,
        issued_for.invoice_email,
    )
    event = order.events.get()
    assert (event.to_status, event.actor) == (OrderStatus.AWAITING_PAYMENT, holder)


def test_the_order_page_shows_pending_payment_and_pay(holder_client, certificate):
    response = submit(holder_client, certificate, seats=5, years=2)

    page = holder_client.get(response["Location"]).content.decode()
    order = Order.objects.get(kind=OrderKind.SEAT_TOPUP)
    assert 'data-testid="order-status">待支付<' in page
    assert f'action="{reverse("payments:pay", args=[order.number])}"' in page
    assert ">支付</button>" in page
    assert "¥1,000.00" in page
    assert "5 个" in page
    assert 'aria-current="step"' in page
    assert '<span class="stepper-label">订单详情</span>' in page


def test_the_page_points_to_a_top_up_still_waiting_for_payment(holder_client, certificate):
    order = topup(certificate, seats=3, years=1)

    page = holder_client.get(start_url(certificate)).content.decode()

    assert "您有一笔待支付的新增授权订单（3 个 × 1 年，¥300.00）" in page
    assert reverse("orders:detail", args=[order.number]) in page


# ---- who may top up which certificate ---------------------------------------------------------


def test_a_stranger_gets_a_404(client, certificate):
    client.force_login(UserFactory())

    assert client.get(start_url(certificate)).status_code == 404
    assert submit(client, certificate, seats=5, years=2).status_code == 404
    assert not Order.objects.filter(kind=OrderKind.SEAT_TOPUP).exists()


def test_an_employee_of_the_certificate_gets_a_404(client, certificate, holder):
    employee = UserFactory(phone="13900001111")
    EmployeeAuthorization.objects.create(
        certificate=certificate, name="李四", phone=employee.phone, added_by=holder
    )
    client.force_login(employee)

    assert client.get(start_url(certificate)).status_code == 404
    assert submit(client, certificate, seats=5, years=2).status_code == 404
    assert not Order.objects.filter(kind=OrderKind.SEAT_TOPUP).exists()


def test_an_unknown_certificate_is_a_404(holder_client, certificate):
    assert (
        holder_client.get(reverse("orders:topup_start", args=[certificate.pk + 99])).status_code
        == 404
    )


def test_the_page_needs_a_login(client, certificate):
    response = client.get(start_url(certificate))

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


@pytest.mark.parametrize(
    ("status", "not_after_days", "message"),
    [
        (EnterpriseCertificate.Status.EXPIRED, -1, "该证书已过期，不能新增授权数量"),
        # Past its date, before the expiry task marked it.
        (EnterpriseCertificate.Status.VALID, -1, "该证书已过期，不能新增授权数量"),
        (EnterpriseCertificate.Status.REVOKED, 100, "该证书已注销，不能新增授权数量"),
    ],
)
def test_a_certificate_no_longer_valid_is_refused_with_a_message(
    holder_client, holder, package, merchant, status, not_after_days, message
):
    cert = issued_certificate(
        holder=holder,
        package=package,
        status=status,
        not_after=timezone.now() + datetime.timedelta(days=not_after_days),
    )

    page = holder_client.get(start_url(cert))
    posted = submit(holder_client, cert, seats=5, years=2)

    assert page.status_code == 200
    assert message in page.content.decode()
    assert 'id="topup-form"' not in page.content.decode()
    assert posted.status_code == 400
    assert message in posted.content.decode()
    assert not Order.objects.filter(kind=OrderKind.SEAT_TOPUP).exists()


def test_the_service_refuses_anyone_but_the_holder(certificate):
    with pytest.raises(TopupError, match="只有证书管理员"):
        topup_order_create(certificate=certificate, actor=UserFactory(), seats=1, years=1)


def test_the_service_refuses_seats_out_of_range(certificate):
    for seats in (0, 501):
        with pytest.raises(TopupError):
            topup(certificate, seats=seats, years=1)
    assert not Order.objects.filter(kind=OrderKind.SEAT_TOPUP).exists()


# ---- paid: the seats are granted, once ---------------------------------------------------------


def test_paying_grants_the_seats_for_calendar_years_and_they_count_at_once(
    client, certificate, time_machine
):
    time_machine.move_to(datetime.datetime(2026, 11, 27, 9, 30, tzinfo=datetime.UTC), tick=False)
    order = topup(certificate, seats=5, years=2)
    assert seats_total(certificate) == 1

    response = notify(client, order, *paid_notification(order))

    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    grant = SeatGrant.objects.get()
    assert grant.order == order
    assert grant.credit_code == CREDIT_CODE
    assert grant.seats == 5
    assert grant.starts_at == datetime.datetime(2026, 11, 27, 9, 30, tzinfo=datetime.UTC)
    assert grant.expires_at == datetime.datetime(2028, 11, 27, 9, 30, tzinfo=datetime.UTC)
    assert seats_total(certificate) == 6


def test_a_grant_from_the_29th_of_february_ends_on_the_28th(certificate, time_machine):
    time_machine.move_to(datetime.datetime(2028, 2, 29, 4, 0, tzinfo=datetime.UTC), tick=False)
    certificate.not_after = timezone.now() + datetime.timedelta(days=300)
    certificate.save(update_fields=["not_after"])
    order = topup(certificate, seats=1, years=1)
    order_transition(order=order, to=OrderStatus.COMPLETED, actor_label="测试")

    grant = topup_seats_grant(order=order)

    assert grant.expires_at == datetime.datetime(2029, 2, 28, 4, 0, tzinfo=datetime.UTC)


def test_the_same_notification_three_times_grants_once(client, certificate):
    order = topup(certificate, seats=5, years=2)
    headers, body = paid_notification(order)

    statuses = [notify(client, order, headers, body).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert Payment.objects.filter(order=order).count() == 1
    assert SeatGrant.objects.filter(order=order).count() == 1
    assert order.events.filter(to_status=OrderStatus.COMPLETED).count() == 1
    assert seats_total(certificate) == 6


def test_the_grant_and_completion_are_one_transaction(certificate, monkeypatch):
    order = topup(certificate, seats=5, years=2)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(SeatGrant.objects, "create", broken)
    with pytest.raises(RuntimeError):
        payment_settle(
            order_number=order.number,
            transaction=as_transaction(paid_transaction(order)),
            source="notify",
        )

    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_PAYMENT
    assert not Payment.objects.filter(order=order).exists()
    assert not SeatGrant.objects.exists()


def test_a_second_grant_for_one_order_is_refused_by_the_database(certificate):
    from django.db import IntegrityError, transaction

    order = topup(certificate, seats=5, years=2)
    topup_seats_grant(order=order)

    with pytest.raises(IntegrityError), transaction.atomic():
        topup_seats_grant(order=order)
    assert SeatGrant.objects.filter(order=order).count() == 1


def test_the_paid_order_page_shows_the_seats_granted_and_the_total(
    holder_client, certificate, client
):
    order = topup(certificate, seats=5, years=2)
    notify(client, order, *paid_notification(order))

    page = holder_client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert 'data-testid="order-status">已完成<' in page
    assert 'data-testid="granted-seats">5 个<' in page
    assert 'data-testid="seats-total">6 个（含管理员本人）<' in page
    assert ">支付</button>" not in page


def test_the_cashier_pays_a_top_up_through_the_notification_path(holder_client, certificate):
    submit(holder_client, certificate, seats=5, years=2)
    order = Order.objects.get(kind=OrderKind.SEAT_TOPUP)

    holder_client.post(reverse("payments:pay", args=[order.number]))
    response = holder_client.post(reverse("payments:sandbox_cashier", args=[order.number]))

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.COMPLETED
    assert SeatGrant.objects.get(order=order).seats == 5
    assert seats_total(certificate) == 6


# ---- the seats belong to the enterprise ---------------------------------------------------------


@pytest.mark.parametrize(
    "end", [EnterpriseCertificate.Status.EXPIRED, EnterpriseCertificate.Status.REVOKED]
)
def test_unexpired_seats_carry_over_to_the_enterprises_next_certificate(
    client, certificate, holder, package, end
):
    order = topup(certificate, seats=5, years=2)
    notify(client, order, *paid_notification(order))
    certificate.status = end
    certificate.save(update_fields=["status"])

    successor = issued_certificate(holder=holder, package=package)

    assert successor.credit_code == certificate.credit_code
    assert seats_total(successor) == 6


def test_seats_count_only_for_their_own_enterprise_and_until_they_expire(
    client, certificate, holder, package
):
    order = topup(certificate, seats=5, years=2)
    notify(client, order, *paid_notification(order))
    other = issued_certificate(holder=holder, package=package, credit_code=OTHER_CREDIT_CODE)
    grant = SeatGrant.objects.get(order=order)

    assert seats_total(other) == 1
    assert seats_total(certificate, at=grant.expires_at - datetime.timedelta(seconds=1)) == 6
    assert seats_total(certificate, at=grant.expires_at) == 1


def test_a_top_up_sent_to_pay_follows_the_payment_without_reloading(
    holder_client, certificate, client
):
    order = topup(certificate)
    url = reverse("orders:detail", args=[order.number])
    before = holder_client.get(url).content.decode()
    holder_client.post(reverse("payments:pay", args=[order.number]))
    waiting = holder_client.get(url).content.decode()
    notify(client, order, *paid_notification(order))

    panel = holder_client.get(
        f"{url}?fragment=status&seen=awaiting_payment", headers={"HX-Request": "true"}
    )

    poll = f'hx-get="{url}?fragment=status&amp;seen=awaiting_payment" hx-trigger="every 3s"'
    assert poll not in before  # nothing to wait for until 【支付】 was pressed
    assert poll in waiting
    fragment = panel.content.decode()
    assert 'data-testid="order-status">已完成<' in fragment
    assert '<div id="order-steps" hx-swap-oob="true">' in fragment
    assert poll not in fragment
