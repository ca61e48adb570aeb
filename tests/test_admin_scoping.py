"""Who sees what in the admin, enforced on the server: 客服 and operators see every order; a CA
reviewer sees only their own CA's orders, events, transfers, uploads, payments, invoices and
certificates — in lists, searches, filters, object URLs and the file view alike; an applicant
gets no further than the admin login."""

import secrets
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from certificates.models import EnterpriseCertificate
from invoices.models import Invoice
from orders.models import Order, Payment
from tests.factories import PackageFactory, UserFactory, new_certificate_order
from tests.test_admin_review import bank_transfer_order, png_bytes, staff_user

pytestmark = pytest.mark.django_db

ROLES = ["support", "reviewer_a", "reviewer_b", "operator"]
# Which CA's rows each staff role sees: "a", "b" or both.
SEES = {"support": {"a", "b"}, "reviewer_a": {"a"}, "reviewer_b": {"b"}, "operator": {"a", "b"}}


@pytest.fixture(autouse=True)
def _private_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }


def _paid_records(order: Order) -> None:
    """A payment, an invoice and a certificate row for `order`, as issuance would leave them."""
    Payment.objects.create(
        order=order,
        out_trade_no=order.number,
        transaction_id=f"4200{secrets.randbelow(10**12):012d}",
        amount_fen=order.amount_fen,
        payee_mchid="1900000101",
        paid_at=timezone.now(),
        source="notify",
    )
    Invoice.objects.create(
        order=order,
        number=f"FP{order.number}",
        title=order.enterprise_name,
        tax_id=order.credit_code,
        amount_fen=order.amount_fen,
        pdf="invoices/test.pdf",
    )
    EnterpriseCertificate.objects.create(
        order=order,
        ca=order.ca,
        holder=order.applicant,
        status=EnterpriseCertificate.Status.PENDING,
        enterprise_name=order.enterprise_name,
        credit_code=order.credit_code,
        legal_rep_name=order.legal_rep_name,
        serial_hex=secrets.token_hex(10),
    )


@pytest.fixture
def world(db):
    package_a, package_b = PackageFactory(), PackageFactory()
    order_a = bank_transfer_order(package=package_a, enterprise_name="广州市甲科技有限公司")
    order_b = bank_transfer_order(package=package_b, enterprise_name="深圳市乙贸易有限公司")
    for order in (order_a, order_b):
        _paid_records(order)
    return SimpleNamespace(
        ca={"a": package_a.ca, "b": package_b.ca},
        package={"a": package_a, "b": package_b},
        order={"a": order_a, "b": order_b},
        users={
            "support": staff_user("13900000201", "客服"),
            "reviewer_a": staff_user("13900000202", "CA审核员", ca=package_a.ca),
            "reviewer_b": staff_user("13900000203", "CA审核员", ca=package_b.ca),
            "operator": staff_user("13900000200", None, superuser=True),
            "applicant": order_a.applicant,
        },
    )


def rows(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def order_numbers(response) -> set[str]:
    return {order.number for order in rows(response)}


def numbers_of(world, cas: set[str]) -> set[str]:
    return {world.order[ca].number for ca in cas}


def assert_hidden(response) -> None:
    """What Django's admin answers for an object outside get_queryset: back to the index, with
    the same "does not exist" note as for an id that was never there (no existence oracle)."""
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


# ---- Orders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_order_list_shows_each_role_its_orders(client, world, role):
    client.force_login(world.users[role])

    response = client.get(reverse("admin:orders_order_changelist"))

    assert order_numbers(response) == numbers_of(world, SEES[role])
    body = response.content.decode()
    for ca in {"a", "b"} - SEES[role]:
        assert world.order[ca].number not in body
        assert world.order[ca].enterprise_name not in body


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ca", ["a", "b"])
def test_an_order_page_opens_only_within_the_roles_scope(client, world, role, ca):
    order = world.order[ca]
    client.force_login(world.users[role])

    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))

    if ca in SEES[role]:
        assert response.status_code == 200
        assert order.enterprise_name in response.content.decode()
    else:
        assert_hidden(response)


@pytest.mark.parametrize("role", ["support", "reviewer_a"])
def test_support_and_reviewers_cannot_edit_an_order(client, world, role):
    order = world.order["a"]
    client.force_login(world.users[role])

    response = client.post(
        reverse("admin:orders_order_change", args=[order.pk]),
        {"enterprise_name": "篡改", "package_price_per_year_fen": 1},
    )

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.enterprise_name == "广州市甲科技有限公司"


def test_an_operator_has_no_editable_order_field(client, world):
    order = world.order["a"]
    client.force_login(world.users["operator"])

    response = client.get(reverse("admin:orders_order_change", args=[order.pk]))

    assert list(response.context["adminform"].form.fields) == []


def test_another_cas_order_looks_exactly_like_a_missing_one(client, world):
    client.force_login(world.users["reviewer_a"])

    hidden = client.get(
        reverse("admin:orders_order_change", args=[world.order["b"].pk]), follow=True
    )
    missing = client.get(reverse("admin:orders_order_change", args=[999_999]), follow=True)

    hidden_note = [str(m) for m in hidden.context["messages"]]
    missing_note = [str(m) for m in missing.context["messages"]]
    assert hidden_note == [missing_note[0].replace("999999", str(world.order["b"].pk))]
    assert world.order["b"].number not in hidden.content.decode()


@pytest.mark.parametrize("url_name", ["admin:orders_order_history", "admin:orders_order_delete"])
def test_other_object_urls_of_another_cas_order_find_nothing(client, world, url_name):
    client.force_login(world.users["reviewer_a"])

    response = client.get(reverse(url_name, args=[world.order["b"].pk]))

    assert response.status_code in (302, 403)
    assert world.order["b"].number not in response.content.decode()


def test_searching_another_cas_credit_code_finds_nothing(client, world):
    url = reverse("admin:orders_order_changelist")
    query = {"q": world.order["b"].credit_code}

    client.force_login(world.users["reviewer_a"])
    assert order_numbers(client.get(url, query)) == set()
    client.force_login(world.users["support"])
    assert order_numbers(client.get(url, query)) == {world.order["b"].number}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number", lambda o: o.number),
        ("enterprise name", lambda o: "乙贸易"),
        ("credit code", lambda o: o.credit_code),
        ("applicant phone", lambda o: o.applicant.phone),
    ],
)
def test_support_finds_an_order_by(client, world, field, value):
    client.force_login(world.users["support"])

    response = client.get(reverse("admin:orders_order_changelist"), {"q": value(world.order["b"])})

    assert order_numbers(response) == {world.order["b"].number}


def test_a_reviewers_ca_filter_names_only_their_own_ca(client, world):
    client.force_login(world.users["reviewer_a"])

    body = client.get(reverse("admin:orders_order_changelist")).content.decode()

    assert world.ca["a"].name in body
    assert world.ca["b"].name not in body


def test_filtering_by_another_ca_shows_a_reviewer_nothing(client, world):
    client.force_login(world.users["reviewer_a"])

    response = client.get(
        reverse("admin:orders_order_changelist"), {"ca__id__exact": world.ca["b"].pk}
    )

    assert world.order["b"].number not in response.content.decode()


def test_a_reviewer_without_a_ca_sees_no_orders(client, world):
    client.force_login(staff_user("13900000209", "CA审核员"))

    response = client.get(reverse("admin:orders_order_changelist"))

    assert order_numbers(response) == set()


def test_staff_without_a_role_see_no_orders(client, world):
    client.force_login(staff_user("13900000208", None))

    response = client.get(reverse("admin:orders_order_changelist"))

    assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_no_bulk_action_is_offered(client, world, role):
    client.force_login(world.users[role])

    for url_name in [
        "admin:orders_order_changelist",
        "admin:orders_orderevent_changelist",
        "admin:authorization_banktransfer_changelist",
    ]:
        body = client.get(reverse(url_name)).content.decode()
        assert 'name="action"' not in body, url_name


def test_nothing_can_be_deleted_by_a_crafted_bulk_action(client, world):
    client.force_login(world.users["operator"])

    client.post(
        reverse("admin:orders_order_changelist"),
        {"action": "delete_selected", "_selected_action": [world.order["a"].pk], "post": "yes"},
    )

    assert Order.objects.filter(pk=world.order["a"].pk).exists()


# ---- Events, transfers and the other CA-owned records -------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_event_list_shows_each_role_its_orders_events(client, world, role):
    client.force_login(world.users[role])

    response = client.get(reverse("admin:orders_orderevent_changelist"))

    assert {event.order.number for event in rows(response)} == numbers_of(world, SEES[role])


def test_another_cas_event_page_finds_nothing(client, world):
    client.force_login(world.users["reviewer_a"])
    event = world.order["b"].events.last()

    assert_hidden(client.get(reverse("admin:orders_orderevent_change", args=[event.pk])))


@pytest.mark.parametrize("role", ROLES)
def test_the_transfer_list_shows_each_role_its_transfers(client, world, role):
    client.force_login(world.users[role])

    response = client.get(reverse("admin:authorization_banktransfer_changelist"))

    assert {t.order.number for t in rows(response)} == numbers_of(world, SEES[role])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ca", ["a", "b"])
def test_a_transfer_page_opens_only_within_the_roles_scope(client, world, role, ca):
    transfer = world.order[ca].bank_transfer
    client.force_login(world.users[role])

    response = client.get(reverse("admin:authorization_banktransfer_change", args=[transfer.pk]))

    if ca in SEES[role]:
        assert response.status_code == 200
        body = response.content.decode()
        assert transfer.reference in body
        file_url = reverse("admin:authorization_banktransfer_file", args=[transfer.pk, "voucher"])
        assert f'href="{file_url}"' in body
        # Never the storage path: uploads are private and only served through the checked view.
        assert transfer.voucher.name not in body
    else:
        assert_hidden(response)


@pytest.mark.parametrize(
    ("url_name", "shown"),
    [
        ("admin:orders_payment_changelist", lambda row: row.order.number),
        ("admin:invoices_invoice_changelist", lambda row: row.order.number),
        ("admin:certificates_enterprisecertificate_changelist", lambda row: row.order.number),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_payments_invoices_and_certificates_are_scoped_too(client, world, role, url_name, shown):
    client.force_login(world.users[role])

    response = client.get(reverse(url_name))

    assert {shown(row) for row in rows(response)} == numbers_of(world, SEES[role])


def test_ca_keys_and_merchants_are_not_shown_to_reviewers(client, world):
    client.force_login(world.users["reviewer_a"])

    for url_name in [
        "admin:certificates_cacertificate_changelist",
        "admin:orders_wechatpaymerchant_changelist",
        "admin:certificates_cainstitution_changelist",
        "admin:accounts_user_changelist",
    ]:
        assert client.get(reverse(url_name)).status_code == 403, url_name


# ---- The staff file view -----------------------------------------------------------------------


def file_url(world, ca: str, kind: str = "voucher") -> str:
    transfer = world.order[ca].bank_transfer
    return reverse("admin:authorization_banktransfer_file", args=[transfer.pk, kind])


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("ca", ["a", "b"])
def test_an_upload_is_served_only_within_the_roles_scope(client, world, role, ca):
    client.force_login(world.users[role])

    response = client.get(file_url(world, ca))

    if ca in SEES[role]:
        assert response.status_code == 200
        assert b"".join(response.streaming_content if response.streaming else [response.content])
        assert response["X-Content-Type-Options"] == "nosniff"
    else:
        assert response.status_code == 404


def test_the_served_upload_is_the_stored_file(client, world):
    client.force_login(world.users["support"])

    response = client.get(file_url(world, "a", "business_license"))

    content = b"".join(response.streaming_content) if response.streaming else response.content
    assert content == png_bytes()
    assert response["Content-Type"] == "image/png"


def test_an_applicant_cannot_open_an_upload_through_the_admin(client, world):
    client.force_login(world.users["applicant"])

    response = client.get(file_url(world, "a"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


@pytest.mark.parametrize("kind", ["order", "..", "pdf", "support_reason", "license"])
def test_an_unknown_file_kind_finds_nothing(client, world, kind):
    client.force_login(world.users["support"])
    transfer = world.order["a"].bank_transfer

    response = client.get(f"/admin/authorization/banktransfer/{transfer.pk}/file/{kind}/")

    assert response.status_code == 404


def test_a_missing_upload_finds_nothing(client, world):
    order = bank_transfer_order(package=world.package["a"], with_files=False)
    client.force_login(world.users["support"])

    response = client.get(
        reverse("admin:authorization_banktransfer_file", args=[order.bank_transfer.pk, "voucher"])
    )

    assert response.status_code == 404


def test_staff_without_the_transfer_permission_cannot_open_uploads(client, world):
    client.force_login(staff_user("13900000207", "运营"))

    assert client.get(file_url(world, "a")).status_code == 404


# ---- The applicant -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        lambda w: reverse("admin:orders_order_changelist"),
        lambda w: reverse("admin:orders_order_change", args=[w.order["a"].pk]),
        lambda w: reverse("admin:orders_orderevent_changelist"),
        lambda w: reverse("admin:authorization_banktransfer_changelist"),
    ],
)
def test_an_applicant_is_sent_to_the_admin_login(client, world, url):
    client.force_login(world.users["applicant"])

    response = client.get(url(world))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# ---- Cost ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url_name", ["admin:orders_order_changelist", "admin:orders_orderevent_changelist"]
)
@pytest.mark.parametrize("role", ["support", "reviewer_a"])
def test_a_list_costs_the_same_queries_for_many_rows(
    client, world, role, url_name, django_assert_max_num_queries
):
    client.force_login(world.users[role])
    url = reverse(url_name)
    with django_assert_max_num_queries(12):
        client.get(url)

    for _ in range(20):
        new_certificate_order(applicant=UserFactory(), package=world.package["a"])

    with django_assert_max_num_queries(12):
        response = client.get(url)
    assert len(rows(response)) >= 21
