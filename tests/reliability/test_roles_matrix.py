"""Who may open what: eight roles × the user pages, downloads, file URLs and admin pages of one
enterprise's order and certificate (CA A), one status code per cell. On SQLite (phase one).

The expected statuses follow PRODUCT.md: anonymous users go to the login (302); an applicant
opens only their own order and certificate (anyone else's is a 404, never a 403 that would
confirm it exists); an employee sees and signs with the enterprise certificate (detail, seal,
signing) but not its employee list nor the orders; staff are plain users on the user pages; in
the admin, support and CA reviewers see orders within their scope (another CA's order looks
missing: the admin's redirect for a missing object), transfer files only support and the
order's own CA reviewer, CA institutions only operators, SMS codes only support. The table was
first recorded from the running code, then checked cell by cell against those rules.

Two cells a reader might not expect: the applicant's own 业务授权书 PDF is a 404 once the
transfer is 待审核 (the letter is offered only while it is needed), and the bank-information
page sends them back to the order (302) for the same reason.
"""

from types import SimpleNamespace

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from certificates.models import EmployeeAuthorization
from tests.certificates.test_certificate_pages import certificate_row
from tests.factories import PackageFactory, UserFactory
from tests.test_admin_review import bank_transfer_order, png_bytes, staff_user

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "applicant",
    "other_applicant",
    "employee",
    "support",
    "reviewer_a",
    "reviewer_b",
    "operator",
]


@pytest.fixture
def world(db):
    package_a, package_b = PackageFactory(), PackageFactory()
    order = bank_transfer_order(package=package_a)
    applicant = order.applicant
    certificate = certificate_row(holder=applicant, package=package_a)
    certificate.official_seal.save("official.png", ContentFile(png_bytes()), save=True)
    employee = UserFactory(phone="13700000001")
    EmployeeAuthorization.objects.create(
        certificate=certificate, name="李四", phone=employee.phone, added_by=applicant
    )
    users = {
        "anonymous": None,
        "applicant": applicant,
        "other_applicant": UserFactory(phone="13700000002"),
        "employee": employee,
        "support": staff_user("13900000301", "客服"),
        "reviewer_a": staff_user("13900000302", "CA审核员", ca=package_a.ca),
        "reviewer_b": staff_user("13900000303", "CA审核员", ca=package_b.ca),
        "operator": staff_user("13900000304", "运营"),
    }
    return SimpleNamespace(order=order, certificate=certificate, users=users)


def urls(world) -> dict[str, str]:
    n, c = world.order.number, world.certificate.pk
    transfer = world.order.bank_transfer
    return {
        "home": reverse("home"),
        "me": reverse("me"),
        "order list": reverse("orders:list"),
        "order detail": reverse("orders:detail", args=[n]),
        "bank info": reverse("transfer:bank_info", args=[n]),
        "letter pdf": reverse("orders:letter_pdf", args=[n]),
        "voucher file": reverse("transfer:file", args=[n, "voucher"]),
        "certificate list": reverse("certificates:list"),
        "certificate detail": reverse("certificates:detail", args=[c]),
        "employees": reverse("certificates:employees", args=[c]),
        "seal png": reverse("certificates:seal", args=[c, "official"]),
        "sign": reverse("signing:sign", args=[c]),
        "admin index": reverse("admin:index"),
        "admin orders": reverse("admin:orders_order_changelist"),
        "admin order": reverse("admin:orders_order_change", args=[world.order.pk]),
        "admin history pdf": reverse("admin:orders_order_history_pdf", args=[world.order.pk]),
        "admin voucher": reverse(
            "admin:authorization_banktransfer_file", args=[transfer.pk, "voucher"]
        ),
        "admin CA list": reverse("admin:certificates_cainstitution_changelist"),
        "admin SMS codes": reverse("admin:accounts_smscode_changelist"),
    }


def observed(client, world) -> dict[tuple[str, str], int]:
    cells = {}
    for role in ROLES:
        client.logout()
        if world.users[role] is not None:
            client.force_login(world.users[role])
        for page, url in urls(world).items():
            cells[(role, page)] = client.get(url).status_code
    return cells


EXPECTED = """
page               anon appl other empl supp rev_a rev_b oper
home               200 200 200 200 200 200 200 200
me                 302 200 200 200 200 200 200 200
order list         302 200 200 200 200 200 200 200
order detail       302 200 404 404 404 404 404 404
bank info          302 302 404 404 404 404 404 404
letter pdf         302 404 404 404 404 404 404 404
voucher file       302 200 404 404 404 404 404 404
certificate list   302 200 200 200 200 200 200 200
certificate detail 302 200 404 200 404 404 404 404
employees          302 200 404 404 404 404 404 404
seal png           302 200 404 200 404 404 404 404
sign               302 200 404 200 404 404 404 404
admin index        302 302 302 302 200 200 200 200
admin orders       302 302 302 302 200 200 200 200
admin order        302 302 302 302 200 200 302 200
admin history pdf  302 302 302 302 200 200 404 200
admin voucher      302 302 302 302 200 200 404 404
admin CA list      302 302 302 302 403 403 403 200
admin SMS codes    302 302 302 302 200 403 403 403
"""


def expected() -> dict[tuple[str, str], int]:
    header, *lines = EXPECTED.strip().splitlines()
    assert len(header.split()) == len(ROLES) + 1  # columns in the order of ROLES
    cells = {}
    for line in lines:
        page, *statuses = line.rsplit(maxsplit=len(ROLES))
        for role, status in zip(ROLES, statuses, strict=True):
            cells[(role, page)] = int(status)
    return cells


def test_every_role_gets_the_expected_status_on_every_page(client, world):
    want = expected()
    assert set(want) == {(r, p) for r in ROLES for p in urls(world)}

    got = observed(client, world)

    wrong = {cell: (want[cell], got[cell]) for cell in want if got[cell] != want[cell]}
    print(f"\nroles matrix: {len(ROLES)} roles × {len(urls(world))} URLs = {len(want)} cells")
    assert wrong == {}, wrong
