"""员工授权: 【添加用户】 up to the free seats and not one more; removing frees a seat; the refusals
(a duplicate, the administrator's own number, a bad number or name, a certificate no longer
valid, someone else's certificate) in Chinese with what was typed kept; seats bought for the
enterprise carry over to its next certificate; the page's queries do not grow with employees."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import EmployeeAuthorization, EnterpriseCertificate
from certificates.selectors import (
    certificate_page,
    certificates_for_user,
    seats_total,
    seats_used,
)
from certificates.services import (
    SEATS_FULL_MESSAGE,
    EmployeeError,
    employee_add,
    employee_remove,
)
from tests.certificates.test_certificate_pages import authorize, certificate_row, seats_grant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
HOLDER_PHONE = "13800003333"


@pytest.fixture
def holder():
    return UserFactory(phone=HOLDER_PHONE)


@pytest.fixture
def cert(holder, package) -> EnterpriseCertificate:
    """A valid certificate with 2 free seats (3 in all, the administrator's included)."""
    certificate = certificate_row(holder=holder, package=package)
    seats_grant(certificate, 2)
    return certificate


def add_url(cert):
    return reverse("certificates:employee_add", args=[cert.pk])


def employees_url(cert):
    return reverse("certificates:employees", args=[cert.pk])


def post_add(client, cert, name, phone):
    return client.post(add_url(cert), {"name": name, "phone": phone})


def active(cert):
    return list(cert.employees.filter(removed_at__isnull=True).values_list("phone", flat=True))


# ---- The service -------------------------------------------------------------------------------


def test_employees_are_added_up_to_the_free_seats_and_one_more_is_refused(cert, holder):
    employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")
    employee_add(certificate=cert, actor=holder, name="王五", phone="13900000002")

    with pytest.raises(EmployeeError) as refused:
        employee_add(certificate=cert, actor=holder, name="赵六", phone="13900000003")

    assert refused.value.message == SEATS_FULL_MESSAGE == "授权数量已用完，请先【新增授权数量】"
    assert active(cert) == ["13900000001", "13900000002"]
    assert (seats_used(cert), seats_total(cert)) == (3, 3)


def test_removing_an_employee_frees_the_seat(cert, holder):
    first = employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")
    employee_add(certificate=cert, actor=holder, name="王五", phone="13900000002")

    removed = employee_remove(employee=first, actor=holder)
    employee_add(certificate=cert, actor=holder, name="赵六", phone="13900000003")

    assert removed.removed_at is not None
    assert sorted(active(cert)) == ["13900000002", "13900000003"]


def test_a_removed_employee_can_be_authorized_again(cert, holder):
    first = employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")
    employee_remove(employee=first, actor=holder)

    again = employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")

    assert again.pk != first.pk
    assert EmployeeAuthorization.objects.filter(phone="13900000001").count() == 2


def test_removing_twice_keeps_the_first_removal_time(cert, holder):
    employee = employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")
    first = employee_remove(employee=employee, actor=holder).removed_at

    second = employee_remove(employee=employee, actor=holder).removed_at

    assert second == first


@pytest.mark.parametrize(
    ("name", "phone", "field", "message"),
    [
        ("李四", "13900000001", "phone", "该手机号已授权，无需重复添加"),
        ("李四", HOLDER_PHONE, "phone", "这是管理员本人的手机号，管理员已占用一个授权，无需添加"),
        ("李四", "1390000", "phone", "请输入正确的11位手机号"),
        ("Li Si", "13900000009", "name", "姓名只能包含汉字和间隔号“·”"),
    ],
)
def test_the_service_refuses_what_it_must(cert, holder, name, phone, field, message):
    employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")

    with pytest.raises(EmployeeError) as refused:
        employee_add(certificate=cert, actor=holder, name=name, phone=phone)

    assert (refused.value.field, refused.value.message) == (field, message)
    assert active(cert) == ["13900000001"]


def test_only_the_holder_can_add_or_remove(cert, holder):
    employee = employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")
    intruder = UserFactory()

    with pytest.raises(EmployeeError, match="只有证书管理员可以添加用户"):
        employee_add(certificate=cert, actor=intruder, name="王五", phone="13900000002")
    with pytest.raises(EmployeeError, match="只有证书管理员可以移除用户"):
        employee_remove(employee=employee, actor=intruder)

    assert active(cert) == ["13900000001"]


@pytest.mark.parametrize(
    "status", [EnterpriseCertificate.Status.EXPIRED, EnterpriseCertificate.Status.REVOKED]
)
def test_an_expired_or_revoked_certificate_cannot_add(holder, package, status):
    cert = certificate_row(holder=holder, package=package, status=status)
    seats_grant(cert, 2)

    with pytest.raises(EmployeeError, match="证书已过期或已注销，不能添加用户"):
        employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")

    assert active(cert) == []


def test_a_certificate_past_its_date_cannot_add_before_the_expiry_task_runs(holder, package):
    cert = certificate_row(holder=holder, package=package, days_left=-1)
    seats_grant(cert, 2)

    with pytest.raises(EmployeeError, match="证书已过期或已注销"):
        employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")


def test_seats_bought_for_the_enterprise_carry_over_to_its_next_certificate(holder, package):
    old = certificate_row(
        holder=holder, package=package, status=EnterpriseCertificate.Status.EXPIRED
    )
    seats_grant(old, 2, days=400)  # bought for the old one, still running
    new = certificate_row(holder=holder, package=package, credit_code=old.credit_code)

    employee_add(certificate=new, actor=holder, name="李四", phone="13900000001")
    employee_add(certificate=new, actor=holder, name="王五", phone="13900000002")
    with pytest.raises(EmployeeError, match="授权数量已用完"):
        employee_add(certificate=new, actor=holder, name="赵六", phone="13900000003")

    assert seats_total(new) == 3
    annotated = certificates_for_user(user=holder).get(pk=new.pk)
    assert (annotated.seats_used, annotated.seats_total) == (3, 3)


def test_expired_seat_grants_do_not_count(holder, package):
    cert = certificate_row(holder=holder, package=package)
    grant = seats_grant(cert, 5)
    grant.starts_at = timezone.now() - dt.timedelta(days=400)
    grant.expires_at = timezone.now() - dt.timedelta(days=1)
    grant.save()

    with pytest.raises(EmployeeError, match="授权数量已用完"):
        employee_add(certificate=cert, actor=holder, name="李四", phone="13900000001")
    assert certificates_for_user(user=holder).get(pk=cert.pk).seats_total == 1


def test_the_list_seat_numbers_agree_with_the_selectors(cert, holder):
    authorize(cert, "13900000001")
    removed = authorize(cert, "13900000002")
    employee_remove(employee=removed, actor=holder)

    annotated = certificates_for_user(user=holder).get(pk=cert.pk)

    assert (annotated.seats_used, annotated.seats_total) == (seats_used(cert), seats_total(cert))
    assert (annotated.seats_used, annotated.seats_total) == (2, 3)


def test_the_pages_seat_numbers_agree_with_the_selectors(cert, holder):
    kept = authorize(cert, "13900000001")
    removed = authorize(cert, "13900000002")
    employee_remove(employee=removed, actor=holder)
    now = timezone.now()
    expired = seats_grant(cert, 5)
    expired.starts_at, expired.expires_at = now - dt.timedelta(days=400), now - dt.timedelta(days=1)
    expired.save()
    upcoming = seats_grant(cert, 7)
    upcoming.starts_at = now + dt.timedelta(days=1)
    upcoming.save()

    page = certificate_page(cert.pk)

    assert (page.seats_used, page.seats_total) == (seats_used(cert), seats_total(cert))
    assert (page.seats_used, page.seats_total) == (2, 3)
    assert page.employee_id_sum == kept.pk
    assert (page.ca_name, page.order_number) == (cert.ca.name, cert.order.number)


def test_a_certificate_still_being_issued_has_no_page(holder, package):
    cert = certificate_row(
        holder=holder, package=package, status=EnterpriseCertificate.Status.PENDING
    )

    assert certificate_page(cert.pk) is None


# ---- The pages ---------------------------------------------------------------------------------


def test_the_employee_page_lists_names_masked_phones_and_dates_with_the_seats(client, cert, holder):
    authorize(cert, "13912345678", name="李四")
    removed = authorize(cert, "13987654321", name="王五")
    employee_remove(employee=removed, actor=holder)
    client.force_login(holder)

    body = client.get(employees_url(cert)).content.decode()

    assert "李四" in body
    assert "139****5678" in body
    assert "13912345678" not in body
    assert f"{timezone.localdate():%Y-%m-%d} 添加" in body
    assert "王五" not in body
    assert "已用 2</strong> / 共 3" in body
    assert f'href="{add_url(cert)}">添加用户</a>' in body


def test_adding_through_the_form_returns_to_the_list_with_a_message(client, cert, holder):
    client.force_login(holder)

    response = post_add(client, cert, " 李四 ", "139 0000 0001")

    assert response.status_code == 302
    assert response["Location"] == employees_url(cert)
    employee = EmployeeAuthorization.objects.get(certificate=cert)
    assert (employee.name, employee.phone, employee.added_by) == ("李四", "13900000001", holder)
    body = client.get(response["Location"]).content.decode()
    assert "已添加用户 李四" in body


def test_the_form_adds_up_to_the_seats_then_explains_and_links_to_新增授权数量(
    client, cert, holder
):
    client.force_login(holder)
    post_add(client, cert, "李四", "13900000001")
    post_add(client, cert, "王五", "13900000002")

    refused = post_add(client, cert, "赵六", "13900000003")
    opened = client.get(add_url(cert))

    for response in [refused, opened]:
        body = response.content.decode()
        assert response.status_code == 200
        assert SEATS_FULL_MESSAGE in body
        assert f'href="{reverse("orders:topup_start", args=[cert.pk])}"' in body
        assert 'name="phone"' not in body
    assert active(cert) == ["13900000001", "13900000002"]


@pytest.mark.parametrize(
    ("name", "phone", "message"),
    [
        ("李四", "13900000001", "该手机号已授权，无需重复添加"),
        ("李四", HOLDER_PHONE, "这是管理员本人的手机号"),
        ("李四", "23900000009", "请输入正确的11位手机号"),
        ("李四", "", "请输入手机号"),
        ("Li Si", "13900000009", "姓名只能包含汉字和间隔号“·”"),
        ("", "13900000009", "请输入姓名"),
    ],
)
def test_the_form_refuses_in_chinese_and_keeps_what_was_typed(
    client, cert, holder, name, phone, message
):
    authorize(cert, "13900000001")
    client.force_login(holder)

    response = post_add(client, cert, name, phone)

    body = response.content.decode()
    assert response.status_code == 200
    assert message in body
    assert f'value="{name}"' in body if name else 'name="name"' in body
    assert f'value="{phone}"' in body if phone else 'name="phone"' in body
    assert active(cert) == ["13900000001"]


def test_the_form_fields_have_labels(client, cert, holder):
    client.force_login(holder)

    body = client.get(add_url(cert)).content.decode()

    assert '<label for="id_name">姓名</label>' in body
    assert '<label for="id_phone">手机号</label>' in body


@pytest.mark.parametrize(
    "status", [EnterpriseCertificate.Status.EXPIRED, EnterpriseCertificate.Status.REVOKED]
)
def test_the_pages_of_a_certificate_no_longer_valid_offer_no_添加用户(
    client, holder, package, status
):
    cert = certificate_row(holder=holder, package=package, status=status)
    seats_grant(cert, 2)
    client.force_login(holder)

    page = client.get(employees_url(cert)).content.decode()
    form = client.get(add_url(cert)).content.decode()
    posted = post_add(client, cert, "李四", "13900000001")

    assert ">添加用户</a>" not in page
    assert "不能添加用户" in page
    assert "不能添加用户" in form
    assert 'name="phone"' not in form
    assert posted.status_code == 200
    assert active(cert) == []


def test_removing_asks_to_confirm_first(client, cert, holder):
    employee = authorize(cert, "13912345678", name="李四")
    client.force_login(holder)
    url = reverse("certificates:employee_remove", args=[cert.pk, employee.pk])

    body = client.get(url).content.decode()

    assert "确认移除" in body
    assert "139****5678" in body
    assert '<form method="post" class="actions remove-actions">' in body
    assert active(cert) == ["13912345678"]


def test_confirming_removes_the_employee_and_frees_the_seat(client, cert, holder):
    employee = authorize(cert, "13912345678", name="李四")
    client.force_login(holder)

    response = client.post(reverse("certificates:employee_remove", args=[cert.pk, employee.pk]))

    assert response["Location"] == employees_url(cert)
    assert active(cert) == []
    body = client.get(employees_url(cert)).content.decode()
    assert "已移除用户 李四" in body
    assert "已用 1</strong> / 共 3" in body


def test_an_employee_of_another_certificate_cannot_be_removed_through_this_one(
    client, cert, holder, package
):
    other = certificate_row(holder=holder, package=package)
    theirs = authorize(other, "13912345678")
    client.force_login(holder)

    response = client.post(reverse("certificates:employee_remove", args=[cert.pk, theirs.pk]))

    assert response.status_code == 404
    assert active(other) == ["13912345678"]


@pytest.mark.parametrize("employees", [1, 50])
def test_the_employee_page_query_count_does_not_grow_with_employees(
    client, holder, package, django_assert_max_num_queries, employees
):
    cert = certificate_row(holder=holder, package=package)
    seats_grant(cert, employees)
    for n in range(employees):
        authorize(cert, f"139{n:08d}")
    client.force_login(holder)

    # session + user + the certificate with its CA and seats + the employees
    with django_assert_max_num_queries(4):
        first = client.get(employees_url(cert))
    # the rows again, unchanged: rendered once, then served from the cache
    with django_assert_max_num_queries(3):
        again = client.get(employees_url(cert))

    for response in [first, again]:
        assert response.content.decode().count('data-testid="employee-row"') == employees


def test_the_employee_page_shows_changes_made_since_it_was_last_shown(client, cert, holder):
    li = authorize(cert, "13900000001", name="李四")
    authorize(cert, "13900000002", name="王五")
    client.force_login(holder)
    assert "李四" in client.get(employees_url(cert)).content.decode()

    # one out and one in: as many employees as before
    employee_remove(employee=li, actor=holder)
    employee_add(certificate=cert, actor=holder, name="赵六", phone="13900000003")
    body = client.get(employees_url(cert)).content.decode()

    assert "李四" not in body
    assert "王五" in body
    assert "赵六" in body
    assert body.count('data-testid="employee-row"') == 2
