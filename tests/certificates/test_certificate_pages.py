"""我的企业证书 【全部】: the list (held and 员工 certificates, constant queries), a certificate's
page for its holder and for an employee, the files (PEM, DER, the chain) and the seals served
through checked views — and a 404 for everyone else, a removed employee included."""

import datetime as dt
import re
import secrets

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from certificates.models import (
    CACertificate,
    CAInstitution,
    EmployeeAuthorization,
    EnterpriseCertificate,
    SeatGrant,
)
from certificates.selectors import (
    certificate_rows_first,
    certificate_rows_first_beside,
    certificate_rows_for_user,
)
from certificates.services import certificate_issue_for_order, employee_add, employee_remove
from orders.models import Order
from orders.selectors import order_list_stamp, order_list_stamp_from, order_list_stamp_statement
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import (
    UserFactory,
    filled_application,
    make_credit_code,
    new_certificate_order,
    seat_topup_order,
    verified,
)

pytestmark = pytest.mark.django_db
EMPLOYEE_PHONE = "13900001111"


# ---- Helpers, shared with test_employees.py ------------------------------------------------------


def credit_code_for(n: int) -> str:
    return make_credit_code(f"91440106MA{n:07d}")


def certificate_row(
    *,
    holder,
    package,
    status=EnterpriseCertificate.Status.VALID,
    credit_code: str | None = None,
    enterprise_name: str = "广州市示例科技有限公司",
    days_left: int = 300,
) -> EnterpriseCertificate:
    """A certificate row as issuance leaves it, without the (slow) keys and seals: for pages
    whose subject is not the certificate's content."""
    now = timezone.now()
    return EnterpriseCertificate.objects.create(
        order=new_certificate_order(applicant=holder, package=package),
        ca=package.ca,
        holder=holder,
        status=status,
        enterprise_name=enterprise_name,
        credit_code=credit_code or credit_code_for(secrets.randbelow(10**7)),
        legal_rep_name="张三",
        serial_hex=secrets.token_hex(10),
        sha256_fingerprint=secrets.token_hex(32),
        not_before=now - dt.timedelta(days=30),
        not_after=now + dt.timedelta(days=days_left),
        issued_at=now - dt.timedelta(days=30),
    )


def seats_grant(certificate: EnterpriseCertificate, seats: int, *, days: int = 365) -> SeatGrant:
    """Extra seats for the certificate's enterprise (a paid top-up, as far as seats go)."""
    now = timezone.now()
    return SeatGrant.objects.create(
        credit_code=certificate.credit_code,
        order=seat_topup_order(applicant=certificate.holder, ca=certificate.ca, seats=seats),
        seats=seats,
        starts_at=now - dt.timedelta(minutes=1),
        expires_at=now + dt.timedelta(days=days),
    )


def authorize(certificate: EnterpriseCertificate, phone: str, name: str = "李四"):
    return EmployeeAuthorization.objects.create(
        certificate=certificate, name=name, phone=phone, added_by=certificate.holder
    )


# ---- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    """Seals go to this test's own directory, not var/private."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }


@pytest.fixture
def demo_ca(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False
    return CAInstitution.objects.get(code="nanyue")


@pytest.fixture
def issued(demo_ca) -> EnterpriseCertificate:
    """A certificate issued the real way: keys, signature, seals."""
    applicant = UserFactory(phone="13800002222")
    verified(applicant)
    order = filled_application(
        applicant=applicant, package=demo_ca.packages.first(), years=2, extra_seats=2
    )
    for step in [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED, OrderStatus.ISSUING]:
        order = order_transition(order=order, to=step, actor_label="测试")
    return certificate_issue_for_order(order_id=order.pk)


@pytest.fixture
def employee(issued):
    authorization = employee_add(
        certificate=issued, actor=issued.holder, name="李四", phone=EMPLOYEE_PHONE
    )
    return UserFactory(phone=authorization.phone)


def file_urls(cert: EnterpriseCertificate) -> list[str]:
    return [
        reverse("certificates:detail", args=[cert.pk]),
        *(reverse("certificates:download", args=[cert.pk, f]) for f in ["pem", "der", "chain.pem"]),
        *(reverse("certificates:seal", args=[cert.pk, k]) for k in ["official", "legal-rep"]),
    ]


def admin_urls(cert: EnterpriseCertificate, employee_id: int = 1) -> list[str]:
    return [
        reverse("certificates:employees", args=[cert.pk]),
        reverse("certificates:employee_add", args=[cert.pk]),
        reverse("certificates:employee_remove", args=[cert.pk, employee_id]),
    ]


# ---- The list ------------------------------------------------------------------------------------


def test_the_list_shows_held_certificates_and_those_the_user_is_an_employee_on(client, package):
    me = UserFactory(phone=EMPLOYEE_PHONE)
    mine = certificate_row(holder=me, package=package, enterprise_name="我的企业有限公司")
    boss = UserFactory()
    theirs = certificate_row(holder=boss, package=package, enterprise_name="雇主有限公司")
    authorize(theirs, EMPLOYEE_PHONE)
    other = certificate_row(holder=boss, package=package, enterprise_name="无关企业有限公司")
    client.force_login(me)

    body = client.get(reverse("certificates:list")).content.decode()

    assert "我的企业有限公司" in body
    assert "雇主有限公司" in body
    assert "无关企业有限公司" not in body
    rows = re.findall(r'<li class="list-row cert-row">.*?</li>', body, re.S)
    employee_row = next(r for r in rows if "雇主有限公司" in r)
    held_row = next(r for r in rows if "我的企业有限公司" in r)
    assert "员工" in employee_row
    assert "员工" not in held_row
    assert reverse("certificates:detail", args=[mine.pk]) in held_row
    assert reverse("certificates:detail", args=[other.pk]) not in body


def test_a_removed_employee_no_longer_finds_the_certificate_in_the_list(client, package):
    cert = certificate_row(holder=UserFactory(), package=package, enterprise_name="雇主有限公司")
    employee = authorize(cert, EMPLOYEE_PHONE)
    employee_remove(employee=employee, actor=cert.holder)
    client.force_login(UserFactory(phone=EMPLOYEE_PHONE))

    body = client.get(reverse("certificates:list")).content.decode()

    assert "雇主有限公司" not in body
    assert "暂无企业证书" in body


def test_a_certificate_still_being_issued_is_not_listed(client, package):
    me = UserFactory()
    certificate_row(holder=me, package=package, status=EnterpriseCertificate.Status.PENDING)
    client.force_login(me)

    body = client.get(reverse("certificates:list")).content.decode()

    assert "暂无企业证书" in body


def test_the_empty_list_says_so_in_chinese(client, user):
    client.force_login(user)

    body = client.get(reverse("certificates:list")).content.decode()

    assert "暂无企业证书" in body
    assert "管理员为您授权后" in body


def test_the_list_needs_login(client):
    response = client.get(reverse("certificates:list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_list_shows_seats_used_and_total_for_held_certificates(client, package):
    me = UserFactory()
    cert = certificate_row(holder=me, package=package)
    seats_grant(cert, 4)
    authorize(cert, "13900000001")
    authorize(cert, "13900000002")
    client.force_login(me)

    body = client.get(reverse("certificates:list")).content.decode()

    assert "授权 3/5" in body


@pytest.mark.parametrize("rows", [1, 30])
def test_the_list_query_count_does_not_grow_with_rows(
    client, package, django_assert_max_num_queries, rows
):
    me = UserFactory(phone=EMPLOYEE_PHONE)
    boss = UserFactory()
    for n in range(rows):
        cert = certificate_row(holder=me if n % 2 else boss, package=package)
        seats_grant(cert, 2)
        authorize(cert, EMPLOYEE_PHONE if not n % 2 else f"139{n:08d}")
    client.force_login(me)

    # session + user + count + one page of certificates with their CA, order and seats
    with django_assert_max_num_queries(4):
        response = client.get(reverse("certificates:list"))

    assert response.status_code == 200
    assert response.content.decode().count('class="list-row cert-row"') == min(rows, 20)


def test_home_has_a_全部_link_to_the_list_and_opens_certificates(client, package):
    me = UserFactory()
    cert = certificate_row(holder=me, package=package)
    client.force_login(me)

    body = client.get(reverse("home")).content.decode()

    card = body[body.index("我的企业证书") : body.index("最近订单")]
    assert f'<a class="link" href="{reverse("certificates:list")}">【全部】</a>' in card
    assert reverse("certificates:detail", args=[cert.pk]) in card


def test_home_lists_a_certificate_the_user_is_an_employee_on(client, package):
    cert = certificate_row(holder=UserFactory(), package=package, enterprise_name="雇主有限公司")
    authorize(cert, EMPLOYEE_PHONE)
    client.force_login(UserFactory(phone=EMPLOYEE_PHONE))

    body = client.get(reverse("home")).content.decode()

    assert "雇主有限公司" in body
    assert 'data-testid="role-employee"' in body


# ---- 我的 --------------------------------------------------------------------------------------


def test_me_shows_an_employee_the_certificate_under_我的数字证书(client, package):
    cert = certificate_row(holder=UserFactory(), package=package, enterprise_name="雇主有限公司")
    authorize(cert, EMPLOYEE_PHONE)
    client.force_login(UserFactory(phone=EMPLOYEE_PHONE))

    body = client.get(reverse("me")).content.decode()

    section = body[body.index("我的数字证书") :]
    assert "雇主有限公司" in section
    assert reverse("certificates:detail", args=[cert.pk]) in section
    assert "员工" in section


def test_me_without_certificates_says_so(client, user):
    client.force_login(user)

    body = client.get(reverse("me")).content.decode()

    assert "我的数字证书" in body
    assert "暂无数字证书" in body


# ---- A certificate's page ------------------------------------------------------------------------


def test_the_holder_sees_status_ca_validity_serial_fingerprint_seals_and_seats(client, issued):
    client.force_login(issued.holder)

    body = client.get(reverse("certificates:detail", args=[issued.pk])).content.decode()

    leaf = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
    fingerprint = ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA256()))
    assert fingerprint in body
    assert format(leaf.serial_number, "X") in body
    assert "有效" in body
    assert "南粤数字认证（演示）" in body
    local = timezone.localtime
    assert (
        f"{local(leaf.not_valid_before_utc):%Y-%m-%d} 至 {local(leaf.not_valid_after_utc):%Y-%m-%d}"
        in body
    )
    assert reverse("certificates:seal", args=[issued.pk, "official"]) in body
    assert reverse("certificates:seal", args=[issued.pk, "legal-rep"]) in body
    assert "已用 1 / 共 3" in body  # the administrator, plus 2 extra seats bought with it
    assert reverse("certificates:employees", args=[issued.pk]) in body
    for fmt in ["pem", "der", "chain.pem"]:
        assert reverse("certificates:download", args=[issued.pk, fmt]) in body


def test_the_holder_is_offered_新增授权数量(client, issued):
    client.force_login(issued.holder)

    body = client.get(reverse("certificates:detail", args=[issued.pk])).content.decode()

    assert ">新增授权数量</a>" in body
    assert reverse("orders:topup_start", args=[issued.pk]) in body


def test_an_employee_sees_the_certificate_without_the_administrators_actions(
    client, issued, employee
):
    client.force_login(employee)

    response = client.get(reverse("certificates:detail", args=[issued.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert issued.enterprise_name in body
    assert "有效" in body
    assert "南粤数字认证（演示）" in body
    assert reverse("certificates:seal", args=[issued.pk, "official"]) in body
    assert reverse("certificates:download", args=[issued.pk, "chain.pem"]) in body
    assert "您已获授权使用本证书" in body
    assert reverse("certificates:employees", args=[issued.pk]) not in body
    assert "添加用户" not in body
    assert "新增授权数量" not in body
    assert "授权数量</dt>" not in body
    assert issued.order.number not in body


@pytest.mark.parametrize("who", ["stranger", "removed employee"])
def test_anyone_else_gets_a_404_for_the_pages_and_the_files(client, issued, employee, who):
    if who == "removed employee":
        authorization = EmployeeAuthorization.objects.get(phone=employee.phone)
        employee_remove(employee=authorization, actor=issued.holder)
        client.force_login(employee)
    else:
        client.force_login(UserFactory())

    for url in file_urls(issued) + admin_urls(issued):
        assert client.get(url).status_code == 404, url


def test_an_employee_gets_a_404_for_the_administrators_pages(client, issued, employee):
    authorization = EmployeeAuthorization.objects.get(phone=employee.phone)
    client.force_login(employee)

    for url in admin_urls(issued, authorization.pk):
        assert client.get(url).status_code == 404, url
    for url in admin_urls(issued, authorization.pk)[1:]:
        assert client.post(url, {"name": "王五", "phone": "13900009999"}).status_code == 404
    assert EmployeeAuthorization.objects.filter(removed_at__isnull=True).count() == 1


def test_an_employee_removed_loses_access_at_once(client, issued, employee):
    client.force_login(employee)
    url = reverse("certificates:detail", args=[issued.pk])
    assert client.get(url).status_code == 200

    authorization = EmployeeAuthorization.objects.get(phone=employee.phone)
    employee_remove(employee=authorization, actor=issued.holder)

    assert client.get(url).status_code == 404


def test_an_unknown_file_format_or_seal_is_a_404(client, issued):
    client.force_login(issued.holder)

    assert client.get(f"/certificates/{issued.pk}/certificate.p12").status_code == 404
    assert client.get(f"/certificates/{issued.pk}/seal/private.png").status_code == 404


@pytest.mark.parametrize("employees", [1, 50])
def test_the_holders_page_query_count_does_not_grow_with_employees(
    client, package, django_assert_max_num_queries, employees
):
    me = UserFactory()
    cert = certificate_row(holder=me, package=package)
    seats_grant(cert, employees)
    for n in range(employees):
        authorize(cert, f"139{n:08d}")
    client.force_login(me)

    # session + user + the certificate with its CA, order and seat numbers
    with django_assert_max_num_queries(3):
        response = client.get(reverse("certificates:detail", args=[cert.pk]))

    assert f"已用 {employees + 1} / 共 {employees + 1}" in response.content.decode()


def test_an_employees_page_takes_one_query_more_to_check_the_authorization(
    client, package, django_assert_max_num_queries
):
    cert = certificate_row(holder=UserFactory(), package=package, enterprise_name="雇主有限公司")
    for n in range(50):
        authorize(cert, f"139{n:08d}")
    client.force_login(UserFactory(phone="13900000007"))

    # session + user + the certificate + the employee's authorization
    with django_assert_max_num_queries(4):
        response = client.get(reverse("certificates:detail", args=[cert.pk]))

    assert response.status_code == 200
    assert "雇主有限公司" in response.content.decode()


def test_a_certificate_still_being_issued_is_a_404_even_for_its_holder(client, package):
    me = UserFactory()
    cert = certificate_row(holder=me, package=package, status=EnterpriseCertificate.Status.PENDING)
    client.force_login(me)

    for url in file_urls(cert) + admin_urls(cert):
        assert client.get(url).status_code == 404, url


def _shown(row) -> tuple:
    return (row.pk, row.enterprise_name, row.ca_name, row.status, row.not_after,
            bool(row.is_holder), row.seats_used, row.seats_total)  # fmt: skip


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_the_first_rows_in_sql_are_the_orms_first_rows(package, limit):
    """Home and 我的 read their rows with one SQL query: the same rows, in the same order, with
    the same CA name, role and seat numbers as the ORM's list."""
    me = UserFactory(phone=EMPLOYEE_PHONE)
    boss = UserFactory()
    held = certificate_row(holder=me, package=package, enterprise_name="我的企业有限公司")
    seats_grant(held, 4)
    authorize(held, "13900002222")
    gone = authorize(held, "13900003333")
    employee_remove(employee=gone, actor=me)
    employed = certificate_row(holder=boss, package=package, enterprise_name="雇主有限公司")
    authorize(employed, EMPLOYEE_PHONE)
    left = certificate_row(holder=boss, package=package, enterprise_name="离职企业有限公司")
    employee_remove(employee=authorize(left, EMPLOYEE_PHONE), actor=boss)
    certificate_row(holder=me, package=package, status=EnterpriseCertificate.Status.PENDING)
    expired = certificate_row(
        holder=me, package=package, status=EnterpriseCertificate.Status.EXPIRED, days_left=-3
    )
    SeatGrant.objects.create(  # over already: counts for nothing
        credit_code=expired.credit_code,
        order=seat_topup_order(applicant=me, ca=package.ca, seats=9),
        seats=9,
        starts_at=timezone.now() - dt.timedelta(days=400),
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    certificate_row(holder=boss, package=package, enterprise_name="无关企业有限公司")

    first = certificate_rows_first(user=me, limit=limit)
    orm = list(certificate_rows_for_user(user=me)[:limit])

    assert [_shown(r) for r in first] == [_shown(r) for r in orm]
    assert len(first) == min(limit, 3)
    assert {r.enterprise_name for r in certificate_rows_first(user=me, limit=10)} == {
        "我的企业有限公司",
        "雇主有限公司",
        expired.enterprise_name,
    }
    mine = next(r for r in certificate_rows_first(user=me, limit=10) if r.pk == held.pk)
    assert (mine.is_holder, mine.seats_used, mine.seats_total) == (True, 2, 5)


def test_home_reads_the_orders_stamp_beside_the_first_rows(package):
    """Home reads its certificate rows and the orders' stamp in one statement: the same rows as
    certificate_rows_first and the same stamp as order_list_stamp, with or without either."""
    me = UserFactory(phone=EMPLOYEE_PHONE)

    def both():
        return certificate_rows_first_beside(order_list_stamp_statement(user=me), user=me, limit=3)

    stamp, rows = both()  # neither orders nor certificates
    assert (order_list_stamp_from(stamp), rows) == ((0, None), [])

    boss = UserFactory()
    for name in ["一号有限公司", "二号有限公司", "三号有限公司", "四号有限公司"]:
        authorize(
            certificate_row(holder=boss, package=package, enterprise_name=name), EMPLOYEE_PHONE
        )
    stamp, rows = both()  # certificates, no orders of mine
    assert order_list_stamp_from(stamp) == (0, None)
    assert [_shown(r) for r in rows] == [
        _shown(r) for r in certificate_rows_first(user=me, limit=3)
    ]
    assert [r.enterprise_name for r in rows] == ["四号有限公司", "三号有限公司", "二号有限公司"]

    certificate_row(holder=me, package=package, enterprise_name="我的企业有限公司")
    seat_topup_order(applicant=me, ca=package.ca)
    stamp, rows = both()
    assert order_list_stamp_from(stamp) == order_list_stamp(user=me)
    assert order_list_stamp(user=me)[0] == Order.objects.filter(applicant=me).count() > 0
    assert [_shown(r) for r in rows] == [
        _shown(r) for r in certificate_rows_first(user=me, limit=3)
    ]
    assert rows[0].enterprise_name == "我的企业有限公司"
    assert rows[0].is_holder


def test_the_certificates_a_user_sees_are_found_through_indexes(package):
    """Not `holder = me OR EXISTS (…)`, which no index answers: the database would read every
    certificate to find a user's few. (PostgreSQL is told to avoid sequential scans wherever
    it can, since its planner prefers them for the few rows of a test database.)"""
    me = UserFactory(phone=EMPLOYEE_PHONE)
    certificate_row(holder=me, package=package)
    authorize(certificate_row(holder=UserFactory(), package=package), EMPLOYEE_PHONE)
    rows = certificate_rows_for_user(user=me)

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            plan = rows.explain()
        full_scan = "Seq Scan on certificates_enterprisecertificate"
    else:
        plan = rows.explain()
        full_scan = "SCAN certificates_enterprisecertificate"

    assert full_scan not in plan
    assert len(rows) == 2


# ---- Files ---------------------------------------------------------------------------------------


def download(client, cert, fmt):
    response = client.get(reverse("certificates:download", args=[cert.pk, fmt]))
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("private")
    assert response["Content-Disposition"].startswith("attachment;")
    return response


def test_the_pem_download_is_the_certificate(client, issued):
    client.force_login(issued.holder)

    response = download(client, issued, "pem")

    leaf = x509.load_pem_x509_certificate(response.content)
    assert format(leaf.serial_number, "x") == issued.serial_hex
    assert leaf.fingerprint(hashes.SHA256()).hex() == issued.sha256_fingerprint
    assert response["Content-Disposition"].endswith('.pem"')


def test_the_der_download_is_the_same_certificate(client, issued):
    client.force_login(issued.holder)

    response = download(client, issued, "der")

    leaf = x509.load_der_x509_certificate(response.content)
    assert leaf.fingerprint(hashes.SHA256()).hex() == issued.sha256_fingerprint
    assert response["Content-Type"] == "application/pkix-cert"


def test_the_chain_is_leaf_then_issuing_ca_then_root_and_verifies(client, issued, demo_ca):
    client.force_login(issued.holder)

    chain = x509.load_pem_x509_certificates(download(client, issued, "chain.pem").content)

    assert len(chain) == 3
    leaf, issuing, root = chain
    assert leaf.fingerprint(hashes.SHA256()).hex() == issued.sha256_fingerprint
    stored = {c.role: c.sha256_fingerprint for c in CACertificate.objects.filter(ca=demo_ca)}
    assert issuing.fingerprint(hashes.SHA256()).hex() == stored["issuing"]
    assert root.fingerprint(hashes.SHA256()).hex() == stored["root"]
    leaf.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)


def test_an_employee_may_download_the_public_certificate_and_chain(client, issued, employee):
    client.force_login(employee)

    pem = download(client, issued, "pem")
    chain = download(client, issued, "chain.pem")

    assert x509.load_pem_x509_certificate(pem.content).serial_number == int(issued.serial_hex, 16)
    assert len(x509.load_pem_x509_certificates(chain.content)) == 3


def test_the_seals_are_pngs_that_no_shared_cache_keeps(client, issued, employee):
    for who in [issued.holder, employee]:
        client.force_login(who)
        for kind in ["official", "legal-rep"]:
            response = client.get(reverse("certificates:seal", args=[issued.pk, kind]))

            assert response.status_code == 200
            assert b"".join(response.streaming_content).startswith(b"\x89PNG")
            assert response["Content-Type"] == "image/png"
            assert response["Cache-Control"] == "private, no-cache"


def test_the_order_page_links_to_the_certificate_files(client, issued):
    client.force_login(issued.holder)

    body = client.get(reverse("orders:detail", args=[issued.order.number])).content.decode()

    assert reverse("certificates:detail", args=[issued.pk]) in body
    assert reverse("certificates:seal", args=[issued.pk, "official"]) in body
    assert reverse("certificates:download", args=[issued.pk, "chain.pem"]) in body
    assert f"/orders/{issued.order.number}/certificate." not in body
    assert f"/orders/{issued.order.number}/seal/" not in body


def test_the_old_order_file_urls_still_serve_the_holder(client, issued):
    client.force_login(issued.holder)

    response = client.get(
        reverse("orders:certificate", args=[issued.order.number, "pem"]), follow=True
    )

    assert response.redirect_chain[0][0] == reverse(
        "certificates:download", args=[issued.pk, "pem"]
    )
    assert response.status_code == 200
    assert x509.load_pem_x509_certificate(response.content).serial_number == int(
        issued.serial_hex, 16
    )
