"""我的企业证书 and 员工授权 on a phone (390×844): the administrator of an issued certificate taps
【全部】 → the certificate → 员工授权 → 【添加用户】 until the seats are used and is told why one
more cannot be added; then the employee logs in on their own phone with the number they were
authorized by and finds the certificate under 我的, as a user, without 【添加用户】 — until the
administrator removes them (after a confirmation), which ends their access at once."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from certificates.models import CAInstitution, EmployeeAuthorization
from certificates.services import certificate_issue_for_order
from orders.services import order_transition
from orders.states import OrderStatus
from tests.browser.conftest import ARTIFACTS, assert_no_horizontal_scroll, screenshot
from tests.factories import UserFactory, filled_application, verified

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ADMIN_PHONE = "13812345678"
EMPLOYEES = [("李四", "13900001111"), ("王小明", "13900002222")]
ONE_TOO_MANY = ("赵六", "13900003333")


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
def certificate(settings):
    """An issued certificate with 2 extra seats: 3 in all, the administrator's included."""
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False
    ca = CAInstitution.objects.get(code="nanyue")
    admin = UserFactory(phone=ADMIN_PHONE)
    verified(admin)
    order = filled_application(applicant=admin, package=ca.packages.first(), extra_seats=2)
    for step in [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED, OrderStatus.ISSUING]:
        order = order_transition(order=order, to=step, actor_label="测试")
    return certificate_issue_for_order(order_id=order.pk)


def log_in(page, live_server, sms_outbox, phone):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号").fill(phone)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送")).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(phone))
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_the_administrator_authorizes_employees_and_an_employee_sees_the_certificate(
    live_server, phone_context, sms_outbox, certificate
):
    page = phone_context().new_page()
    log_in(page, live_server, sms_outbox, ADMIN_PHONE)
    screenshot(page, "cert-01-home")

    # 【全部】 → the list → the certificate
    page.get_by_role("link", name="【全部】").first.click()
    expect(page).to_have_url(f"{live_server.url}/certificates/")
    expect(page.get_by_role("heading", name="我的企业证书")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "cert-02-list")
    page.get_by_role("link", name=re.compile(certificate.enterprise_name)).click()

    expect(page.get_by_test_id("certificate-status")).to_have_text("有效")
    expect(page.get_by_test_id("seats")).to_have_text("已用 1 / 共 3")
    expect(page.get_by_role("img", name="机构公章")).to_be_visible()
    expect(page.get_by_role("img", name="法定代表人章")).to_be_visible()
    assert page.get_by_role("img", name="机构公章").evaluate("i => i.naturalWidth") > 0
    assert_no_horizontal_scroll(page)
    screenshot(page, "cert-03-detail-admin")
    page.locator(".cert-seals").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "cert-03b-seals.png")  # the viewport: the tab bar in place

    # 员工授权 → 【添加用户】 up to the seats
    page.get_by_role("link", name=re.compile("^员工授权")).click()
    expect(page.get_by_role("heading", name="员工授权")).to_be_visible()
    expect(page.get_by_text("暂无授权用户")).to_be_visible()
    screenshot(page, "cert-04-employees-empty")
    for n, (name, phone) in enumerate(EMPLOYEES, start=1):
        page.get_by_role("link", name="添加用户", exact=True).click()
        page.get_by_label("姓名").fill(name)
        page.get_by_label("手机号").fill(phone)
        if n == 1:
            assert_no_horizontal_scroll(page)
            screenshot(page, "cert-05-add-form")
        page.get_by_role("button", name="确认添加").click()
        expect(page.get_by_text(f"已添加用户 {name}")).to_be_visible()
        expect(page.get_by_test_id("employee-row")).to_have_count(n)
    expect(page.get_by_test_id("seat-meter")).to_contain_text("已用 3 / 共 3")
    expect(page.get_by_text(f"{EMPLOYEES[1][1][:3]}****{EMPLOYEES[1][1][-4:]}")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "cert-06-employees-full")

    # One more: refused, with the way to more seats
    page.get_by_role("link", name="添加用户", exact=True).click()
    expect(page.get_by_test_id("seats-full")).to_contain_text(
        "授权数量已用完，请先【新增授权数量】"
    )
    expect(page.get_by_role("link", name="新增授权数量")).to_be_visible()
    expect(page.get_by_label("手机号")).to_have_count(0)
    assert_no_horizontal_scroll(page)
    screenshot(page, "cert-07-seats-full")
    assert EmployeeAuthorization.objects.filter(certificate=certificate).count() == 2
    assert not EmployeeAuthorization.objects.filter(phone=ONE_TOO_MANY[1]).exists()

    # The employee, on their own phone
    employee = phone_context().new_page()
    log_in(employee, live_server, sms_outbox, EMPLOYEES[0][1])
    employee.get_by_role("link", name="我的").click()
    mine = employee.locator("#my-certificates")
    expect(mine.get_by_role("heading", name="我的数字证书")).to_be_visible()
    expect(mine.get_by_text(certificate.enterprise_name)).to_be_visible()
    expect(mine.get_by_text("员工", exact=True)).to_be_visible()
    assert_no_horizontal_scroll(employee)
    screenshot(employee, "cert-08-employee-me")
    mine.get_by_role("link", name=re.compile(certificate.enterprise_name)).click()

    expect(employee.get_by_test_id("certificate-status")).to_have_text("有效")
    expect(employee.get_by_text("您已获授权使用本证书")).to_be_visible()
    expect(employee.get_by_role("img", name="机构公章")).to_be_visible()
    expect(employee.get_by_role("link", name="添加用户")).to_have_count(0)
    expect(employee.get_by_role("link", name=re.compile("^员工授权"))).to_have_count(0)
    expect(employee.get_by_role("link", name="新增授权数量")).to_have_count(0)
    assert_no_horizontal_scroll(employee)
    screenshot(employee, "cert-09-employee-detail")

    # The employee cannot reach the administrator's page by URL either
    response = employee.goto(f"{live_server.url}/certificates/{certificate.pk}/employees/")
    assert response.status == 404

    # The administrator removes the employee, after confirming; the employee's access ends at once
    page.get_by_test_id("seats-full").get_by_role("link", name="返回员工授权").click()
    page.get_by_role("link", name=f"移除 {EMPLOYEES[0][0]}").click()
    expect(page.get_by_role("heading", name="确认移除该用户？")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "cert-10-remove-confirm")
    page.get_by_role("button", name="确认移除").click()
    expect(page.get_by_text(f"已移除用户 {EMPLOYEES[0][0]}，授权数量已释放")).to_be_visible()
    expect(page.get_by_test_id("employee-row")).to_have_count(1)
    expect(page.get_by_test_id("seat-meter")).to_contain_text("已用 2 / 共 3")
    screenshot(page, "cert-11-employees-after-removal")

    response = employee.goto(f"{live_server.url}/certificates/{certificate.pk}/")
    assert response.status == 404
    employee.goto(f"{live_server.url}/me/")
    expect(employee.get_by_text("暂无数字证书")).to_be_visible()
