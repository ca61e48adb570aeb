"""法定代表人刷脸验证授权 on two phones (390×844): the applicant shares the order, the legal
representative — not logged in, on another phone — opens the link, checks the order, passes the
face check, and the applicant's order page turns 已授权待支付 by itself."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from orders.models import Order
from orders.services import agreement_accept
from orders.states import AuthorizationMethod, OrderStatus
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot
from tests.factories import (
    AgreementVersionFactory,
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_id_number,
    verified,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = "13912345678"
LEGAL_REP_NAME = "张三"
LEGAL_REP_ID = make_id_number(sequence="777")


@pytest.fixture
def order(settings, live_server):
    """A verified applicant (李四) whose in-province order waits for 张三's authorization."""
    settings.YQ_PUBLIC_BASE_URL = live_server.url
    settings.YQ_FACE_PROVIDER = "accounts.faceauth.SandboxFaceCheckProvider"
    settings.YQ_FACE_SANDBOX_FAIL_IDS = []
    applicant = UserFactory(phone=PHONE)
    verified(applicant, real_name="李四", id_number=make_id_number(sequence="001"))
    ca = CAInstitutionFactory(name="南粤数字认证（演示）")
    package = PackageFactory(ca=ca, name="标准套餐")
    agreement = AgreementVersionFactory(ca=ca, version=1, title="数字证书业务协议书")
    order = filled_application(
        applicant=applicant,
        package=package,
        legal_rep_name=LEGAL_REP_NAME,
        legal_rep_id=LEGAL_REP_ID,
        years=2,
        extra_seats=3,
    )
    agreement_accept(order=order, actor=applicant, agreement=agreement, ip="", user_agent="")
    return Order.objects.get(pk=order.pk)


def selfie(tmp_path) -> str:
    path = tmp_path / "selfie.jpg"
    buffer = io.BytesIO()
    Image.new("RGB", (480, 640), (236, 200, 180)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def log_in(page, live_server, sms_outbox):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送")).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(PHONE))
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_the_legal_representative_authorizes_from_a_shared_link_on_another_phone(
    live_server, phone_context, sms_outbox, order, tmp_path
):
    applicant_phone = phone_context()
    applicant_phone.grant_permissions(["clipboard-read", "clipboard-write"])
    applicant = applicant_phone.new_page()
    log_in(applicant, live_server, sms_outbox)

    # 选择授权方式 offers it in province; the order page has it too.
    applicant.goto(f"{live_server.url}/orders/{order.number}/authorize/")
    expect(applicant.get_by_role("button", name="分享给法定代表人授权", exact=True)).to_be_visible()
    assert_no_horizontal_scroll(applicant)
    screenshot(applicant, "share-00-choose")

    # The applicant's order → 【分享给法定代表人授权】 → the share card.
    applicant.goto(f"{live_server.url}/orders/{order.number}/")
    expect(applicant.get_by_test_id("order-status")).to_have_text("待授权")
    assert_no_horizontal_scroll(applicant)
    screenshot(applicant, "share-01-order")
    applicant.get_by_role("button", name="分享给法定代表人授权", exact=True).click()

    expect(applicant.get_by_role("img", name="授权链接二维码")).to_be_visible()
    link = applicant.get_by_label("授权链接").input_value()
    assert re.fullmatch(rf"{re.escape(live_server.url)}/a/[A-Za-z0-9_-]{{43}}/", link)
    expect(applicant.get_by_text("生成新链接会使旧链接失效")).to_be_visible()
    applicant.get_by_role("button", name="复制链接").click()
    expect(applicant.get_by_text("链接已复制")).to_be_visible()
    assert applicant.evaluate("navigator.clipboard.readText()") == link
    assert_no_horizontal_scroll(applicant)
    screenshot(applicant, "share-02-card")

    # Back on the order page, which waits for the legal representative.
    applicant.get_by_role("link", name="返回订单详情").last.click()
    expect(applicant.get_by_test_id("share-waiting")).to_be_visible()
    applicant.evaluate("window.notReloaded = true")
    screenshot(applicant, "share-03-waiting")

    # The legal representative's phone: no account, opens the link from WeChat.
    legal_rep = phone_context().new_page()
    legal_rep.goto(link)
    expect(legal_rep.get_by_text(order.enterprise_name).first).to_be_visible()
    expect(legal_rep.get_by_text(order.credit_code)).to_be_visible()
    expect(legal_rep.get_by_text("南粤数字认证（演示）").first).to_be_visible()
    expect(legal_rep.get_by_text("标准套餐")).to_be_visible()
    expect(legal_rep.get_by_test_id("share-amount")).to_have_text("¥1,200.00")
    expect(legal_rep.get_by_text("李* · 139****5678")).to_be_visible()
    assert_no_horizontal_scroll(legal_rep)
    screenshot(legal_rep, "share-04-legal-rep-order")
    legal_rep.get_by_role("link", name="确认授权").click()

    # 人脸识别: a wrong ID number first is refused with what was typed kept.
    legal_rep.get_by_label("姓名").fill(LEGAL_REP_NAME)
    legal_rep.get_by_label("身份证号").fill(make_id_number(sequence="555"))
    legal_rep.locator("input[type=file]").set_input_files(selfie(tmp_path))
    legal_rep.get_by_role("button", name="确认授权").click()
    expect(legal_rep.get_by_text("姓名或身份证号与企业法定代表人不一致")).to_be_visible()
    expect(legal_rep.get_by_label("姓名")).to_have_value(LEGAL_REP_NAME)
    assert_no_horizontal_scroll(legal_rep)
    screenshot(legal_rep, "share-05-wrong-person")

    legal_rep.get_by_label("身份证号").fill(LEGAL_REP_ID)
    legal_rep.locator("input[type=file]").set_input_files(selfie(tmp_path))
    screenshot(legal_rep, "share-06-check")
    legal_rep.get_by_role("button", name="确认授权").click()
    expect(legal_rep.get_by_text("授权成功，申请人可以继续支付")).to_be_visible()
    assert_no_horizontal_scroll(legal_rep)
    screenshot(legal_rep, "share-07-done")

    # The applicant's page follows by itself, without a reload.
    expect(applicant.get_by_test_id("order-status")).to_have_text("已授权待支付", timeout=15_000)
    expect(applicant.get_by_role("button", name="支付")).to_be_visible()
    expect(applicant.locator(".stepper [aria-current=step]")).to_contain_text("支付")
    assert applicant.evaluate("window.notReloaded") is True
    screenshot(applicant, "share-08-authorized")

    # The link has done its work.
    legal_rep.goto(link)
    expect(legal_rep.get_by_role("heading", name="链接已使用")).to_be_visible()
    screenshot(legal_rep, "share-09-used")

    order.refresh_from_db()
    assert order.status == OrderStatus.AUTHORIZED
    assert order.authorization_method == AuthorizationMethod.SHARE_LINK
