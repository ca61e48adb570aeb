"""The two reviews of a bank-transfer order in the admin, in a real browser: 客服 sees the
uploads and approves, the CA's own reviewer approves and the certificate is issued, another CA's
reviewer finds no such order. The admin is a desk tool (1280 px), but it must not break on a
phone (390×844) either."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from certificates.models import CAInstitution
from orders.models import Order
from orders.states import OrderStatus
from tests.browser.conftest import ARTIFACTS, PHONE, screenshot
from tests.test_admin_review import bank_transfer_order
from yueqiqian.management.commands.seed_demo import DEMO_PASSWORDS, REVIEWER_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESK = {"width": 1280, "height": 900}
# seed_demo's reviewers: one per demo CA, numbered in the order the CAs are created.
NANYUE_REVIEWER = "13900000002"
ZHUJIANG_REVIEWER = "13900000003"


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False


@pytest.fixture
def order(demo) -> Order:
    ca = CAInstitution.objects.get(code="nanyue")
    return bank_transfer_order(package=ca.packages.first())


@pytest.fixture
def staff_page(browser):
    """A fresh browser (own cookies) per staff member, at a desk or a phone size."""
    contexts = []

    def _new(viewport=DESK):
        context = browser.new_context(viewport=viewport, locale="zh-CN")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield _new
    for context in contexts:
        context.close()


def admin_log_in(page, live_server, phone: str, password: str) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.locator("#id_username").fill(phone)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_text("粤企签 管理后台")).to_be_visible()


def order_url(live_server, order: Order) -> str:
    return f"{live_server.url}/admin/orders/order/{order.pk}/change/"


def artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def images_loaded(page) -> list[int]:
    return page.locator(".yq-review-thumb").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")


def test_support_then_the_cas_reviewer_approve_and_the_certificate_is_issued(
    live_server, staff_page, order
):
    # 客服: the order list finds the order by its credit code, the page shows the uploads.
    support = staff_page()
    csp_errors = []
    support.on(
        "console",
        lambda msg: csp_errors.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    admin_log_in(support, live_server, *DEMO_PASSWORDS["support"])
    support.goto(f"{live_server.url}/admin/orders/order/?q={order.credit_code}")
    support.get_by_role("link", name=order.number).click()
    review = support.locator("section.yq-review")
    expect(review.get_by_role("heading", name="审核 · 对公银行账号转账验证授权")).to_be_visible()
    expect(review.get_by_text(order.bank_transfer.reference, exact=True)).to_be_visible()
    expect(review.get_by_role("img", name="营业执照")).to_be_visible()
    expect(review.get_by_role("img", name="转账凭证")).to_be_visible()
    expect(review.get_by_role("link", name="打开 已签字的业务授权书（PDF）")).to_be_visible()
    assert all(width > 0 for width in images_loaded(support)), "a preview did not load"
    expect(review.get_by_role("group", name="客服审核")).to_be_visible()
    screenshot(support, "admin-review-01-support")
    review.screenshot(path=artifact("admin-review-01-support-block"))

    review.get_by_role("button", name="通过", exact=True).click()
    expect(support.get_by_text(f"{order.number} 客服审核通过，等待CA审核")).to_be_visible()
    expect(support.locator(".field-status .readonly")).to_have_text("待审核（CA复审）")
    expect(support.locator("section.yq-review").get_by_role("button")).to_have_count(0)
    assert csp_errors == []

    # The CA's own reviewer, in another browser: approves, and issuance runs.
    reviewer = staff_page()
    admin_log_in(reviewer, live_server, NANYUE_REVIEWER, REVIEWER_PASSWORD)
    reviewer.goto(order_url(live_server, order))
    review = reviewer.locator("section.yq-review")
    expect(review.get_by_role("group", name="CA审核")).to_be_visible()
    expect(review.get_by_role("cell", name="客服演示账号 13900000001")).to_be_visible()
    review.get_by_label("原因（不通过时必填，申请人可见）").fill("款项已到账")
    review.get_by_role("button", name="通过", exact=True).click()
    expect(reviewer.get_by_text(f"{order.number} CA审核通过，证书开始签发")).to_be_visible()
    expect(reviewer.locator(".field-status .readonly")).to_have_text(re.compile("签发中|已完成"))
    screenshot(reviewer, "admin-review-02-ca-approved")
    order.refresh_from_db()
    assert order.status in (OrderStatus.ISSUING, OrderStatus.COMPLETED)


def test_another_cas_reviewer_finds_no_such_order(live_server, staff_page, order):
    page = staff_page()
    admin_log_in(page, live_server, ZHUJIANG_REVIEWER, REVIEWER_PASSWORD)

    page.goto(order_url(live_server, order))

    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.get_by_text(re.compile(r"不存在"))).to_be_visible()
    expect(page.get_by_text(order.number)).to_have_count(0)
    page.goto(f"{live_server.url}/admin/orders/order/")
    expect(page.get_by_text(order.number)).to_have_count(0)
    response = page.goto(
        f"{live_server.url}/admin/authorization/banktransfer/{order.bank_transfer.pk}/file/voucher/"
    )
    assert response.status == 404


def test_the_review_block_holds_together_on_a_phone(live_server, staff_page, order):
    page = staff_page(PHONE)
    admin_log_in(page, live_server, *DEMO_PASSWORDS["support"])

    page.goto(order_url(live_server, order))

    review = page.locator("section.yq-review")
    expect(review.get_by_role("button", name="不通过")).to_be_visible()
    box = review.bounding_box()
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE["width"], box
    overflow = review.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the review block overflows by {overflow}px"
    assert all(width > 0 for width in images_loaded(page))
    review.screenshot(path=artifact("admin-review-03-phone-block"))

    # A rejection without a reason is refused with the reason why, on the phone too.
    review.get_by_role("button", name="不通过").click()
    expect(page.get_by_text("审核不通过时请填写原因")).to_be_visible()
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW
