"""实名认证 on a phone: log in, fill 姓名 and 身份证号, take the selfie, pass (or fail) the
face check."""

import io
import re

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import expect

from accounts.faceauth import MISMATCH_MESSAGE
from accounts.models import Identity
from tests.accounts.test_identity import make_id
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ID_NUMBER = make_id("440106", "19900101", "001")
FAILING_ID = make_id("110101", "19900307", "123")


@pytest.fixture(autouse=True)
def _failing_ids(settings):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [FAILING_ID]


def selfie_jpeg() -> bytes:
    """Something face-shaped, as the front camera would deliver it."""
    image = Image.new("RGB", (720, 960), (236, 240, 246))
    draw = ImageDraw.Draw(image)
    draw.ellipse((210, 220, 510, 600), fill=(232, 196, 168))
    draw.ellipse((290, 360, 320, 390), fill=(40, 40, 40))
    draw.ellipse((400, 360, 430, 390), fill=(40, 40, 40))
    draw.arc((300, 430, 420, 520), 20, 160, fill=(150, 60, 60), width=6)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def log_in(page, live_server, sms_outbox, phone: str, next_path: str) -> None:
    page.goto(f"{live_server.url}{next_path}")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text(re.compile("验证码已发送"))).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(phone))
    page.get_by_role("button", name="登录", exact=True).click()


def take_selfie(page) -> None:
    page.locator("input[name=selfie]").set_input_files(
        files=[{"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": selfie_jpeg()}]
    )


def test_an_applicant_verifies_their_identity_with_a_selfie(live_server, page, sms_outbox):
    phone = "13812340001"
    log_in(page, live_server, sms_outbox, phone, "/accounts/identity/?next=/")

    expect(page).to_have_url(f"{live_server.url}/accounts/identity/?next=/")
    expect(page.get_by_role("heading", name="实名认证")).to_be_visible()
    selfie_input = page.get_by_label("拍摄人脸照片")
    expect(selfie_input).to_have_attribute("capture", "user")
    expect(selfie_input).to_have_attribute("accept", "image/*")
    assert_no_horizontal_scroll(page)
    screenshot(page, "identity-form")

    page.get_by_label("姓名").fill("张三")
    page.get_by_label("身份证号").fill(ID_NUMBER)
    take_selfie(page)
    expect(page.get_by_text("已拍摄，点击上方可重拍")).to_be_visible()
    screenshot(page, "identity-form-filled")
    page.get_by_role("button", name="开始核验").click()

    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_text("实名认证成功")).to_be_visible()
    identity = Identity.objects.get(user__phone=phone)
    assert identity.id_number == ID_NUMBER
    screenshot(page, "identity-success")

    page.goto(f"{live_server.url}/accounts/identity/")
    expect(page.get_by_text("已实名认证")).to_be_visible()
    expect(page.get_by_text(identity.id_number_masked)).to_be_visible()
    assert ID_NUMBER not in page.content()
    assert_no_horizontal_scroll(page)
    screenshot(page, "identity-verified")


def test_a_failed_face_check_keeps_what_was_typed(live_server, page, sms_outbox):
    phone = "13812340002"
    log_in(page, live_server, sms_outbox, phone, "/accounts/identity/?next=/")
    expect(page.get_by_role("button", name="开始核验")).to_be_visible()

    page.get_by_label("姓名").fill("李四")
    page.get_by_label("身份证号").fill(FAILING_ID)
    take_selfie(page)
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("button", name="开始核验").click()

    expect(page.get_by_text(MISMATCH_MESSAGE)).to_be_visible()
    expect(page.get_by_text(MISMATCH_MESSAGE)).to_be_in_viewport()
    assert page.evaluate("window.stillTheSamePage === true"), "htmx should swap only the form"
    expect(page.get_by_label("姓名")).to_have_value("李四")
    expect(page.get_by_label("身份证号")).to_have_value(FAILING_ID)
    expect(page.get_by_text(re.compile("请重新拍摄"))).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/identity/"))
    assert not Identity.objects.filter(user__phone=phone).exists()
    assert_no_horizontal_scroll(page)
    screenshot(page, "identity-face-mismatch")

    # A typo in the number is caught on the page, before any photo is compared.
    page.get_by_label("身份证号").fill(ID_NUMBER[:-1] + ("0" if ID_NUMBER[-1] != "0" else "1"))
    take_selfie(page)
    page.get_by_role("button", name="开始核验").click()
    expect(page.get_by_text("身份证号校验位不正确，请核对")).to_be_in_viewport()
    expect(page.get_by_label("身份证号")).to_be_focused()
    screenshot(page, "identity-bad-check-digit")


def test_verification_works_without_javascript(live_server, browser, sms_outbox):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        java_script_enabled=False,
    )
    try:
        page = context.new_page()
        phone = "13812340003"
        log_in(page, live_server, sms_outbox, phone, "/accounts/identity/?next=/orders/")
        expect(page.get_by_role("button", name="开始核验")).to_be_visible()

        page.get_by_label("姓名").fill("王五")
        page.get_by_label("身份证号").fill(ID_NUMBER)
        take_selfie(page)
        page.get_by_role("button", name="开始核验").click()

        expect(page).to_have_url(f"{live_server.url}/orders/")
        expect(page.get_by_text("实名认证成功")).to_be_visible()
        assert Identity.objects.filter(user__phone=phone, real_name="王五").exists()
    finally:
        context.close()
