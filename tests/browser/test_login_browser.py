import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = "13812345678"


def test_a_new_user_logs_in_with_an_sms_code_on_a_phone(live_server, page, sms_outbox):
    page.goto(f"{live_server.url}/orders/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/orders/"))
    assert_no_horizontal_scroll(page)

    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送至 138****5678")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("秒后重发"))).to_be_disabled()
    expect(page.get_by_label("手机号")).to_have_value(PHONE)

    page.get_by_label("验证码").fill(
        "000000" if sms_outbox.last_code(PHONE) != "000000" else "111111"
    )
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page.get_by_text(re.compile("验证码错误"))).to_be_visible()
    screenshot(page, "login-wrong-code")

    page.get_by_label("验证码").fill(sms_outbox.last_code(PHONE))
    page.get_by_role("button", name="登录", exact=True).click()

    expect(page).to_have_url(f"{live_server.url}/orders/")
    expect(page.get_by_text("暂无订单")).to_be_visible()
    assert User.objects.filter(phone=PHONE).exists()
    assert_no_horizontal_scroll(page)
    screenshot(page, "orders-empty")

    page.get_by_role("link", name="我的").click()
    expect(page.get_by_text("138****5678")).to_be_visible()
    screenshot(page, "me")
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))


@pytest.mark.parametrize("width", [360, 430])
def test_pages_fit_phones_from_360_to_430_px_wide(live_server, browser, width):
    context = browser.new_context(
        viewport={"width": width, "height": 800}, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    try:
        page = context.new_page()
        for path in ["/", "/accounts/login/", "/no-such-page/"]:
            page.goto(f"{live_server.url}{path}")
            assert_no_horizontal_scroll(page)
            expect(page.locator("h1")).to_be_visible()
    finally:
        context.close()
