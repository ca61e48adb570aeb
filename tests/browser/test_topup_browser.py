"""【新增授权数量】 and 【下载发票】 on a phone (390×844): the administrator of an issued
certificate picks 5 seats × 2 years (¥1,000.00), 【下一步】 → 待支付 → 【支付】 → 【确认支付】 →
已完成 with the seats added; then 【订单管理】 → the certificate's order → 【下载发票】 → 下载 and
发送至邮箱."""

import re

import pytest
from django.core import mail
from django.core.management import call_command
from playwright.sync_api import expect

from certificates.models import CAInstitution, SeatGrant
from certificates.selectors import agreement_current, seats_total
from certificates.services import certificate_issue_for_order
from orders.models import Order
from orders.services import agreement_accept, order_transition
from orders.states import OrderKind, OrderStatus
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot
from tests.factories import UserFactory, filled_application, make_credit_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = "13612345678"
CREDIT_CODE = make_credit_code()


@pytest.fixture
def certificate(settings, tmp_path):
    """A certificate issued by the demo CA for the applicant, through the issuance service."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    settings.PRIVATE_MEDIA_ROOT = tmp_path / "private"
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False
    ca = CAInstitution.objects.get(code="nanyue")
    holder = UserFactory(phone=PHONE)
    order = filled_application(
        applicant=holder, package=ca.packages.first(), credit_code=CREDIT_CODE
    )
    order = agreement_accept(
        order=order,
        actor=holder,
        agreement=agreement_current(ca=ca),
        ip="127.0.0.1",
        user_agent="pytest",
    )
    for step in (OrderStatus.AUTHORIZED, OrderStatus.ISSUING):
        order = order_transition(order=order, to=step, actor_label="测试")
    return certificate_issue_for_order(order_id=order.pk)


def log_in(page, live_server, sms_outbox):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送")).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(PHONE))
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")


def shot(page, name: str) -> None:
    assert_no_horizontal_scroll(page)
    screenshot(page, name)


def test_the_administrator_adds_seats_and_gets_the_invoice_on_a_phone(
    live_server, page, sms_outbox, certificate
):
    assert seats_total(certificate) == 1
    log_in(page, live_server, sms_outbox)

    # 选择数量: the price follows the choice, computed by the server.
    page.goto(f"{live_server.url}/orders/topup/{certificate.pk}/")
    expect(page.get_by_role("heading", name="新增授权数量")).to_be_visible()
    expect(page.get_by_test_id("price")).to_have_text("¥100.00")
    page.get_by_label("新增授权数量").fill("5")
    expect(page.get_by_test_id("price")).to_have_text("¥500.00")
    page.get_by_label("年限").select_option(label="2年")
    expect(page.get_by_test_id("price")).to_have_text("¥1,000.00")
    expect(page.get_by_text("5 个授权 × 2 年")).to_be_visible()
    shot(page, "topup-01-choose")

    # 【下一步】 → 订单详情: 待支付 and 【支付】.
    page.get_by_role("button", name="下一步").click()
    expect(page).to_have_url(re.compile(r"/orders/YQ\d+/$"))
    expect(page.get_by_test_id("order-status")).to_have_text("待支付")
    expect(page.get_by_text("¥1,000.00").first).to_be_visible()
    shot(page, "topup-02-order")

    # 【支付】 → the sandbox cashier → 【确认支付】.
    page.get_by_role("button", name="支付").click()
    expect(page.get_by_role("button", name="确认支付")).to_be_visible()
    expect(page.get_by_test_id("amount")).to_have_text("¥1,000.00")
    shot(page, "topup-03-cashier")
    page.get_by_role("button", name="确认支付").click()

    expect(page.get_by_test_id("order-status")).to_have_text("已完成", timeout=20_000)
    expect(page.get_by_test_id("granted-seats")).to_have_text("5 个")
    expect(page.get_by_test_id("seats-total")).to_have_text("6 个（含管理员本人）")
    shot(page, "topup-04-completed")
    topup = Order.objects.get(kind=OrderKind.SEAT_TOPUP)
    assert topup.amount_fen == 1000_00
    assert SeatGrant.objects.get(order=topup).seats == 5
    assert seats_total(certificate) == 6

    # 【订单管理】: both orders, 已完成.
    page.get_by_role("link", name="订单管理").click()
    expect(page).to_have_url(f"{live_server.url}/orders/")
    expect(page.get_by_test_id("order-row-status")).to_have_text(["已完成", "已完成"])
    expect(page.get_by_text("新增 5 个授权 × 2 年")).to_be_visible()
    shot(page, "topup-05-orders")

    # The certificate's order: its agreement, and 【下载发票】 → 下载 or 发送至邮箱.
    page.get_by_role("link", name=re.compile("新办证书")).click()
    expect(page.get_by_test_id("order-status")).to_have_text("已完成")
    expect(page.get_by_role("link", name=re.compile("业务协议书"))).to_be_visible()
    page.get_by_test_id("invoice-get").click()
    expect(page.get_by_text("选择接收方式")).to_be_visible()
    expect(page.get_by_label("发送至邮箱")).to_have_value("zhang@example.cn")
    shot(page, "topup-06-invoice-choices")

    with page.expect_download() as download:
        page.get_by_role("link", name="下载", exact=True).click()
    assert download.value.suggested_filename.endswith(".pdf")
    with open(download.value.path(), "rb") as file:
        assert file.read().startswith(b"%PDF-")

    page.get_by_label("发送至邮箱").fill("caiwu@example.cn")
    page.get_by_role("button", name="发送").click()
    expect(
        page.get_by_role("status").get_by_text("发票已发送至 caiwu@example.cn，请查收")
    ).to_be_visible()
    # Each invoice also went once, automatically, to the application's 接收邮箱.
    sent = [m for m in mail.outbox if m.to == ["caiwu@example.cn"]]
    assert len(sent) == 1
    assert sent[0].attachments[0][1].startswith(b"%PDF-")
    shot(page, "topup-07-invoice-sent")
