"""The heart of the product on a phone (390×844): a legal representative goes from nothing to an
issued certificate — login → 【办理】 → 【去认证】 → application → agreement → 业务授权书 →
【支付】 → 【确认支付】 → 已完成."""

import io
import re

import pytest
from django.core.management import call_command
from PIL import Image
from playwright.sync_api import expect

from certificates.models import EnterpriseCertificate
from orders.models import Order
from orders.states import OrderStatus
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot
from tests.factories import (
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    make_id_number,
    verified,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = "13812345678"
LEGAL_REP_ID = make_id_number(sequence="777")
CREDIT_CODE = make_credit_code()


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False


def selfie(tmp_path) -> str:
    image = Image.new("RGB", (480, 640), (236, 200, 180))
    path = tmp_path / "selfie.jpg"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def log_in(page, live_server, sms_outbox, phone=PHONE):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送")).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(phone))
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_a_legal_representative_gets_an_issued_certificate_on_a_phone(
    live_server, page, sms_outbox, demo, tmp_path
):
    log_in(page, live_server, sms_outbox)

    # 【办理】 → 【去认证】
    page.get_by_role("link", name="办理", exact=True).click()
    expect(page).to_have_url(re.compile(r"/accounts/identity/"))
    page.get_by_label("姓名").fill("张三")
    page.get_by_label("身份证号").fill(LEGAL_REP_ID)
    page.locator("input[type=file]").set_input_files(selfie(tmp_path))
    screenshot(page, "flow-01-identity")
    page.get_by_role("button", name="开始核验").click()

    # 填写信息: one section open at a time, the next opening as each is saved.
    expect(page).to_have_url(re.compile(r"/orders/YQ\d+/apply/"))
    expect(page.get_by_text("实名认证成功")).to_be_visible()
    expect(page.get_by_role("link", name="填写企业信息")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "flow-02a-application-start")
    page.get_by_label("邮箱", exact=True).fill("zhangsan@example.cn")
    page.get_by_role("button", name="保存证书申请人").click()
    expect(page.locator("#applicant").get_by_text("已保存")).to_be_visible()

    page.get_by_label("企业名称").fill("广州市示例科技有限公司")
    page.get_by_label("统一社会信用代码").fill(CREDIT_CODE)
    page.get_by_label("法定代表人姓名").fill("张三")
    page.get_by_label("法定代表人身份证号").fill(LEGAL_REP_ID)
    page.get_by_label("企业地址").fill("广东省广州市天河区示例路1号")
    page.get_by_role("button", name="保存企业信息").click()
    expect(page.locator("#enterprise").get_by_text("已保存")).to_be_visible()
    expect(page.get_by_text("省内企业（广东）")).to_be_visible()
    screenshot(page, "flow-02b-application-certificate")

    page.get_by_label("证书机构").select_option(label="南粤数字认证（演示）")
    page.get_by_label("证书套餐").select_option(label="标准套餐 · ¥300.00/年")
    page.get_by_label("证书有效期").select_option(label="2年")
    expect(page.get_by_test_id("price")).to_have_text("¥600.00")
    page.get_by_label("额外授权员工数量").fill("3")
    page.get_by_role("button", name="保存证书信息").click()
    expect(page.get_by_test_id("price")).to_have_text("¥1,200.00")

    expect(page.get_by_label("发票抬头")).to_have_value("广州市示例科技有限公司")
    page.get_by_role("button", name="保存发票信息").click()
    expect(page.locator("#invoice").get_by_text("已保存")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "flow-02-application")

    # 阅读协议
    page.get_by_role("link", name="下一步").click()
    expect(page.get_by_role("heading", name=re.compile("业务协议书"))).to_be_visible()
    expect(page.get_by_role("button", name="下一步")).to_be_disabled()
    page.get_by_label(re.compile("我已阅读并同意")).check()
    screenshot(page, "flow-03-agreement")
    page.get_by_role("button", name="下一步").click()

    # 业务授权书 → 确认
    expect(page.get_by_role("heading", name="业务授权书", exact=True)).to_be_visible()
    screenshot(page, "flow-04-letter")
    page.get_by_role("button", name="确认").click()
    expect(page.get_by_test_id("order-status")).to_have_text("已授权待支付")

    # 【支付】 → 【确认支付】
    page.get_by_role("button", name="支付").click()
    expect(page.get_by_role("button", name="确认支付")).to_be_visible()
    screenshot(page, "flow-05-cashier")
    page.get_by_role("button", name="确认支付").click()

    expect(page.get_by_test_id("order-status")).to_have_text("已完成", timeout=20_000)
    expect(page.get_by_role("img", name="机构公章")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "flow-06-completed")

    order = Order.objects.get(credit_code=CREDIT_CODE)
    assert order.status == OrderStatus.COMPLETED
    assert EnterpriseCertificate.objects.get(order=order).status == "valid"
    assert order.amount_fen == 1200_00


def test_a_saved_section_is_changed_with_修改_with_and_without_javascript(
    live_server, browser, phone_context, sms_outbox
):
    from tests.browser.conftest import PHONE as VIEWPORT

    applicant = UserFactory(phone="13912345678")
    verified(applicant, real_name="李四")
    package = PackageFactory(name="标准套餐", price_per_year_fen=300_00)
    order = filled_application(applicant=applicant, package=package, extra_seats=0)
    url = f"{live_server.url}/orders/{order.number}/apply/"
    page = phone_context().new_page()
    log_in(page, live_server, sms_outbox, phone=applicant.phone)

    # Every section saved: all folded, 【修改】 opens one in place.
    page.goto(url)
    expect(page.locator("form")).to_have_count(0)
    page.get_by_role("link", name="修改企业信息").click()
    expect(page.get_by_label("企业地址")).to_have_value("广东省广州市天河区示例路1号")
    assert page.url == url  # in place, no navigation
    page.get_by_label("企业地址").fill("广东省广州市天河区新地址路8号")
    screenshot(page, "flow-07-application-edit")
    page.get_by_role("button", name="保存企业信息").click()
    expect(page.locator("#enterprise").get_by_text("已保存")).to_be_visible()
    expect(page.locator("#enterprise").get_by_text("广州市示例科技有限公司")).to_be_visible()
    expect(page.locator("form")).to_have_count(0)

    # Without JavaScript 【修改】 is a link to the page with that section open, 保存 a plain post.
    no_js = browser.new_context(
        viewport=VIEWPORT, is_mobile=True, locale="zh-CN", java_script_enabled=False
    )
    no_js.add_cookies(page.context.cookies())
    plain = no_js.new_page()
    plain.goto(url)
    plain.get_by_role("link", name="修改证书信息").click()
    expect(plain).to_have_url(re.compile(r"\?open=certificate#certificate$"))
    plain.get_by_label("额外授权员工数量").fill("2")
    plain.get_by_role("button", name="保存证书信息").click()
    expect(plain.locator("#certificate").get_by_text("已完成")).to_be_visible()
    expect(plain.locator("#certificate").get_by_text("2个")).to_be_visible()
    expect(plain.get_by_test_id("price")).to_have_text("¥500.00")
    assert_no_horizontal_scroll(plain)
    no_js.close()
    order.refresh_from_db()
    assert order.enterprise_address == "广东省广州市天河区新地址路8号"
    assert order.extra_seats == 2
