"""(四) 订单管理: all of the applicant's orders — new certificates and top-ups — newest first, in
pages, with the status in Chinese; a fixed number of queries however many rows there are."""

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from orders.models import Order
from orders.services import order_transition
from orders.states import OrderStatus
from orders.views import PAGE_SIZE
from tests.factories import UserFactory, filled_application, make_credit_code
from tests.orders.test_payments import sandbox_merchant
from tests.orders.test_topup import issued_certificate, topup
from yueqiqian.fragments import SETTLE_SECONDS

pytestmark = pytest.mark.django_db
LIST_URL = reverse("orders:list")


@pytest.fixture
def applicant(db):
    return UserFactory()


@pytest.fixture
def signed_in(client, applicant):
    client.force_login(applicant)
    return client


@pytest.fixture
def certificate(applicant, package):
    sandbox_merchant(package.ca)
    return issued_certificate(holder=applicant, package=package)


def mixed_orders(*, certificate, package, count: int) -> None:
    """`count` orders besides the certificate's own: top-ups, paid and not, and new
    applications, submitted or cancelled (one per credit code)."""
    holder = certificate.holder
    for n in range(count):
        if n % 3 == 0:
            # A draft is resumed rather than started again: move each one on.
            application = filled_application(
                applicant=holder,
                package=package,
                credit_code=make_credit_code(f"91440106MA5{n:06d}"),
                enterprise_name=f"广州市第{n}号示例有限公司",
            )
            to = OrderStatus.AWAITING_AUTHORIZATION if n % 2 else OrderStatus.CANCELLED
            order_transition(order=application, to=to, actor_label="测试")
            continue
        order = topup(certificate, seats=n % 7 + 1, years=n % 5 + 1)
        if n % 3 == 1:
            order_transition(order=order, to=OrderStatus.COMPLETED, actor_label="测试")


def row_statuses(page: str) -> list[str]:
    return re.findall(r'data-testid="order-row-status">([^<]+)<', page)


def test_the_list_shows_both_kinds_with_enterprise_amount_and_chinese_status(
    signed_in, certificate
):
    pending = topup(certificate, seats=5, years=2)
    paid = topup(certificate, seats=1, years=5)
    order_transition(order=paid, to=OrderStatus.COMPLETED, actor_label="测试")

    page = signed_in.get(LIST_URL).content.decode()

    assert page.count('class="list-row order-row"') == 3
    assert f"新办证书 · {certificate.enterprise_name}" in page
    assert page.count(f"新增授权数量 · {certificate.enterprise_name}") == 2
    assert "新增 5 个授权 × 2 年" in page
    assert "¥1,000.00" in page
    assert "¥500.00" in page
    # Newest first: the paid top-up, the pending one, then the certificate.
    assert row_statuses(page) == ["已完成", "待支付", "已完成"]
    for order in (pending, paid, certificate.order):
        assert f'href="{reverse("orders:detail", args=[order.number])}"' in page


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (OrderStatus.DRAFT, "填写中"),
        (OrderStatus.AWAITING_AUTHORIZATION, "待授权"),
        (OrderStatus.AUTHORIZED, "已授权待支付"),
        (OrderStatus.ISSUING, "签发中"),
        (OrderStatus.CANCELLED, "已取消"),
    ],
)
def test_each_new_certificate_status_is_shown_in_chinese(
    signed_in, applicant, package, status, shown
):
    order = filled_application(applicant=applicant, package=package)
    path = {
        OrderStatus.DRAFT: [],
        OrderStatus.AWAITING_AUTHORIZATION: [OrderStatus.AWAITING_AUTHORIZATION],
        OrderStatus.AUTHORIZED: [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED],
        OrderStatus.ISSUING: [
            OrderStatus.AWAITING_AUTHORIZATION,
            OrderStatus.AUTHORIZED,
            OrderStatus.ISSUING,
        ],
        OrderStatus.CANCELLED: [OrderStatus.CANCELLED],
    }[status]
    for step in path:
        order = order_transition(order=order, to=step, actor_label="测试")

    page = signed_in.get(LIST_URL).content.decode()

    assert row_statuses(page) == [shown]


def test_a_cancelled_top_up_is_shown_as_cancelled(signed_in, certificate):
    order_transition(order=topup(certificate), to=OrderStatus.CANCELLED, actor_label="测试")

    assert row_statuses(signed_in.get(LIST_URL).content.decode())[0] == "已取消"


def test_only_the_applicants_own_orders_are_listed(signed_in, certificate, package):
    stranger = UserFactory()
    filled_application(
        applicant=stranger,
        package=package,
        credit_code=make_credit_code("91440101MA5CXXXX1"),
        enterprise_name="别人的公司",
    )

    page = signed_in.get(LIST_URL).content.decode()

    assert "别人的公司" not in page
    assert page.count('class="list-row order-row"') == 1


def test_the_list_needs_a_login(client):
    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_an_applicant_without_orders_sees_an_empty_list(signed_in):
    page = signed_in.get(LIST_URL).content.decode()

    assert "暂无订单" in page


def test_the_list_is_paged_and_htmx_gets_only_the_rows(signed_in, certificate, package):
    mixed_orders(certificate=certificate, package=package, count=PAGE_SIZE + 4)

    first = signed_in.get(LIST_URL).content.decode()
    second = signed_in.get(f"{LIST_URL}?page=2", headers={"HX-Request": "true"})

    assert first.count('class="list-row order-row"') == PAGE_SIZE
    assert "第 1 / 2 页" in first
    rows = second.content.decode()
    assert rows.lstrip().startswith('<section class="card" id="order-list">')
    assert rows.count('class="list-row order-row"') == 5
    assert "<html" not in rows
    # The certificate's order is the oldest: last on the last page.
    assert reverse("orders:detail", args=[certificate.order.number]) in rows


@pytest.mark.parametrize("count", [0, 39])
def test_the_list_costs_the_same_queries_for_1_or_40_orders(
    signed_in, certificate, package, count, django_assert_max_num_queries
):
    mixed_orders(certificate=certificate, package=package, count=count)

    # session, user, the rows' stamp, count, page of rows (with their CA joined)
    with django_assert_max_num_queries(5):
        response = signed_in.get(LIST_URL)
    # Nothing changed since (and the last change has settled): the rows rendered for this
    # stamp are served again.
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=SETTLE_SECONDS + 1)):
        signed_in.get(LIST_URL)
        with django_assert_max_num_queries(3):
            again = signed_in.get(LIST_URL)

    page = response.content.decode()
    assert row_statuses(again.content.decode()) == row_statuses(page)
    assert page.count('class="list-row order-row"') == min(count + 1, PAGE_SIZE)
    if count:
        assert "新办证书" in page
        assert "新增授权数量" in page


def test_the_rows_follow_every_change_to_an_order(signed_in, certificate):
    order = topup(certificate, seats=5, years=2)
    assert row_statuses(signed_in.get(LIST_URL).content.decode()) == ["待支付", "已完成"]

    order_transition(order=order, to=OrderStatus.COMPLETED, actor_label="测试")
    assert row_statuses(signed_in.get(LIST_URL).content.decode()) == ["已完成", "已完成"]

    # A change that isn't a status (saved the usual way) shows as well.
    certificate.order.enterprise_name = "广州市改名后有限公司"
    certificate.order.save(update_fields=["enterprise_name", "updated_at"])
    assert "广州市改名后有限公司" in signed_in.get(LIST_URL).content.decode()

    newer = topup(certificate, seats=1, years=1)
    assert newer.number in signed_in.get(LIST_URL).content.decode()


def test_a_change_committed_late_with_an_older_time_still_shows(signed_in, certificate):
    """`updated_at` is set before the commit: a slow transaction can commit an older time
    after the list was rendered for a newer one. Until the newest change has settled, the list
    is rendered afresh; once settled, a late commit can no longer be older than it."""
    slow = topup(certificate, seats=5, years=2)
    fast = topup(certificate, seats=1, years=1)
    before_fast = Order.objects.get(pk=fast.pk).updated_at
    assert row_statuses(signed_in.get(LIST_URL).content.decode())[:2] == ["待支付", "待支付"]

    # The slow one commits its cancellation now, with a time older than the fast one's.
    Order.objects.filter(pk=slow.pk).update(
        status=OrderStatus.CANCELLED, updated_at=before_fast - dt.timedelta(milliseconds=5)
    )

    assert row_statuses(signed_in.get(LIST_URL).content.decode())[:2] == ["待支付", "已取消"]


def test_two_applicants_never_see_each_others_cached_rows(client, certificate, package):
    other = UserFactory()
    filled_application(
        applicant=other,
        package=package,
        credit_code=make_credit_code("91440101MA5CXXXX1"),
        enterprise_name="别人的公司",
    )
    client.force_login(certificate.holder)
    mine = client.get(LIST_URL).content.decode()

    client.force_login(other)
    theirs = client.get(LIST_URL).content.decode()

    assert "别人的公司" in theirs
    assert certificate.order.number not in theirs
    assert "别人的公司" not in mine


def test_an_unfinished_top_up_continues_at_its_payment(signed_in, certificate):
    order = topup(certificate)
    list_page = signed_in.get(LIST_URL).content.decode()
    detail_url = reverse("orders:detail", args=[order.number])

    detail = signed_in.get(detail_url).content.decode()

    assert f'href="{detail_url}"' in list_page
    assert f'action="{reverse("payments:pay", args=[order.number])}"' in detail
