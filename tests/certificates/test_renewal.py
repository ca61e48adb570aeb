"""续期: in a certificate's last 30 days its administrator starts a renewal — a new-certificate
application prefilled from the original order — which is paid like a new one; when its
certificate is issued the old one is superseded (and on the CRL), the authorized employees move
over, the seats are kept, and the enterprise holds one valid certificate at every moment."""

import datetime as dt

import pytest
import time_machine
from cryptography import x509
from cryptography.x509 import ocsp
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from certificates.models import EmployeeAuthorization, EnterpriseCertificate
from certificates.renewal import (
    RenewalError,
    renewal_complete,
    renewal_refusal,
    renewal_start,
)
from certificates.revocation import certificate_revoke
from certificates.selectors import seats_total
from certificates.services import employee_add
from orders import pricing
from orders.models import Order
from orders.services import ApplicationError, order_section_save, order_sections_missing
from orders.states import OrderStatus
from tests.certificates.test_revocation import (
    ca_with_hierarchy,
    issued_certificate,
    issuing_of,
    ocsp_answer,
    ocsp_post,
    ocsp_request,
    pay_and_issue,
    photo,
    submit,
    x509_of,
)
from tests.factories import UserFactory, filled_application, make_id_number, verified

pytestmark = pytest.mark.django_db
Status = EnterpriseCertificate.Status


@pytest.fixture
def world():
    """A valid one-year certificate with 2 extra seats, both used by employees."""
    ca, package = ca_with_hierarchy()
    holder = UserFactory()
    verified(holder, id_number=make_id_number(sequence="052"))
    cert = issued_certificate(package=package, applicant=holder, extra_seats=2)
    employee_add(certificate=cert, actor=holder, name="李四", phone="13700000001")
    employee_add(certificate=cert, actor=holder, name="王五", phone="13700000002")
    return ca, package, holder, cert


def in_window(cert, days_left: int = 29):
    return time_machine.travel(cert.not_after - dt.timedelta(days=days_left))


def valid_count(credit_code: str) -> int:
    return EnterpriseCertificate.objects.filter(
        credit_code=credit_code, status=Status.VALID
    ).count()


# ---- When ----------------------------------------------------------------------------------------


def test_renewal_opens_in_the_last_30_days_only(world):
    _, _, holder, cert = world

    assert "30 天内" in renewal_refusal(cert, actor=holder)
    with in_window(cert, days_left=31):
        assert renewal_refusal(cert, actor=holder) is not None
    with in_window(cert, days_left=29):
        assert renewal_refusal(cert, actor=holder) is None
    with time_machine.travel(cert.not_after + dt.timedelta(hours=1)):
        assert "过期" in renewal_refusal(cert, actor=holder)


def test_the_renew_page_refuses_outside_the_window_and_creates_nothing(world, client):
    _, _, holder, cert = world
    client.force_login(holder)
    url = reverse("orders:renew", args=[cert.pk])

    page = client.get(url)
    posted = client.post(url)

    assert "证书到期前 30 天内可以续期" in page.text
    assert "下一步" not in page.text
    assert posted.status_code == 400
    assert not Order.objects.filter(renewal_of=cert).exists()


def test_only_the_holder_may_renew(world, client):
    _, _, _, cert = world
    stranger = UserFactory()
    verified(stranger, id_number=make_id_number(sequence="053"))
    with in_window(cert):
        client.force_login(stranger)  # sessions last a week: log in at the travelled time
        assert client.get(reverse("orders:renew", args=[cert.pk])).status_code == 404
        with pytest.raises(RenewalError):
            renewal_start(certificate=cert, actor=stranger)


def test_a_revoked_certificate_cannot_be_renewed(world):
    _, _, holder, cert = world
    certificate_revoke(
        certificate=cert, actor=holder, reason="cessation_of_operation", face_check=photo()
    )
    cert.refresh_from_db()

    with in_window(cert), pytest.raises(RenewalError, match="已注销"):
        renewal_start(certificate=cert, actor=holder)


# ---- The application -----------------------------------------------------------------------------


def test_renewal_starts_a_draft_prefilled_from_the_original_order(world, client):
    _, package, holder, cert = world
    original = cert.order
    url = reverse("orders:renew", args=[cert.pk])

    with in_window(cert):
        client.force_login(holder)
        page = client.get(url)
        response = client.post(url)
        again = client.post(url)

    order = Order.objects.get(renewal_of=cert)
    assert "下一步" in page.text
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:apply", args=[order.number])
    assert again["Location"] == response["Location"]  # resumed, not a second draft
    assert order.status == OrderStatus.DRAFT
    assert order.applicant == holder
    for name in [
        "enterprise_name",
        "credit_code",
        "legal_rep_name",
        "legal_rep_id_number",
        "enterprise_address",
        "applicant_phone",
        "applicant_email",
        "invoice_title",
        "invoice_tax_id",
        "invoice_email",
        "invoice_remark",
        "ca_id",
        "package_id",
    ]:
        assert getattr(order, name) == getattr(original, name), name
    assert order.years == 1
    # The two seats bought with the certificate end with it: the renewal buys them again.
    assert order.extra_seats == 2
    assert order.amount_fen == pricing.new_certificate_price_fen(
        package=package, years=1, extra_seats=2
    )
    assert order_sections_missing(order) == []


def test_the_renewal_may_be_submitted_while_the_old_certificate_is_valid(world):
    _, package, holder, cert = world

    with in_window(cert):
        order = renewal_start(certificate=cert, actor=holder)
        submitted = submit(order, holder)
        # Anyone else applying for the same enterprise is still refused.
        other = UserFactory()
        verified(other, id_number=make_id_number(sequence="054"))
        with pytest.raises(ApplicationError):
            filled_application(applicant=other, package=package, credit_code=cert.credit_code)

    assert submitted.status == OrderStatus.AWAITING_AUTHORIZATION
    assert valid_count(cert.credit_code) == 1


def test_a_renewal_keeps_its_enterprise(world):
    from tests.factories import make_credit_code

    _, _, holder, cert = world

    with in_window(cert):
        order = renewal_start(certificate=cert, actor=holder)
        with pytest.raises(ApplicationError, match="续期不能更改统一社会信用代码"):
            order_section_save(
                order=order,
                section="enterprise",
                data={
                    "enterprise_name": "深圳市另一家有限公司",
                    "credit_code": make_credit_code("91440300MA5FAKE0X"),
                    "legal_rep_name": order.legal_rep_name,
                    "legal_rep_id_number": order.legal_rep_id_number,
                    "enterprise_address": order.enterprise_address,
                },
            )


# ---- Issuance ------------------------------------------------------------------------------------


def test_issuing_the_renewal_supersedes_the_old_certificate_and_keeps_its_people(
    world, client, django_capture_on_commit_callbacks
):
    ca, _, holder, cert = world
    old_phones = set(cert.employees.values_list("phone", flat=True))

    with in_window(cert):
        order = renewal_start(certificate=cert, actor=holder)
        submit(order, holder)
        with django_capture_on_commit_callbacks(execute=True):
            new = pay_and_issue(order)
        assert new.status == Status.VALID
        assert valid_count(cert.credit_code) == 1
        # Until the old seats end, the renewed ones come on top of them.
        assert seats_total(new) == 1 + 2 + 2

    cert.refresh_from_db()
    assert cert.status == Status.SUPERSEDED
    assert cert.revocation_reason == EnterpriseCertificate.RevocationReason.SUPERSEDED
    assert cert.revoked_at is not None
    active = new.employees.filter(removed_at__isnull=True)
    assert set(active.values_list("phone", flat=True)) == old_phones
    # On the CRL as superseded, and revoked over OCSP.
    crl = x509.load_der_x509_crl(client.get(f"/crl/{ca.code}-issuing.crl").content)
    entry = crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16))
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.superseded
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    answer = ocsp_answer(ocsp_post(client, ca.code, ocsp_request(leaf, x509_of(issuing_of(ca)))))
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.superseded
    # The seats outlive the old certificate: bought again with the renewal.
    with time_machine.travel(cert.not_after + dt.timedelta(days=1)):
        assert seats_total(new) == 3


def _reserved_certificate_for(order: Order) -> EnterpriseCertificate:
    """The pending row issuance reserves before it signs."""
    return EnterpriseCertificate.objects.create(
        order=order,
        ca=order.ca,
        holder=order.applicant,
        status=Status.PENDING,
        enterprise_name=order.enterprise_name,
        credit_code=order.credit_code,
        legal_rep_name=order.legal_rep_name,
        serial_hex=format(x509.random_serial_number(), "x"),
        certificate_pem="-----BEGIN CERTIFICATE-----\n",
        not_after=timezone.now() + dt.timedelta(days=365),
    )


def test_renewal_complete_swaps_the_certificates_in_one_transaction(world):
    _, _, holder, cert = world
    with in_window(cert):
        order = renewal_start(certificate=cert, actor=holder)
        new = _reserved_certificate_for(order)

        # Without the swap the database refuses a second valid certificate.
        with pytest.raises(IntegrityError), transaction.atomic():
            EnterpriseCertificate.objects.filter(pk=new.pk).update(status=Status.VALID)
        with transaction.atomic():
            old = renewal_complete(new_certificate=new)
            EnterpriseCertificate.objects.filter(pk=new.pk).update(status=Status.VALID)

    assert old.pk == cert.pk
    assert old.status == Status.SUPERSEDED
    assert old.revoked_by == holder
    assert valid_count(cert.credit_code) == 1
    copied = EmployeeAuthorization.objects.filter(certificate=new, removed_at__isnull=True)
    assert sorted(copied.values_list("name", flat=True)) == ["李四", "王五"]
    # The old certificate's authorizations stay as they were, as history.
    assert cert.employees.filter(removed_at__isnull=True).count() == 2


def test_renewal_complete_copies_the_employees_of_a_certificate_revoked_meanwhile(world):
    _, _, holder, cert = world
    with in_window(cert):
        order = renewal_start(certificate=cert, actor=holder)
        certificate_revoke(
            certificate=cert, actor=holder, reason="key_compromise", face_check=photo()
        )
        new = _reserved_certificate_for(order)
        old = renewal_complete(new_certificate=new)

    assert old.status == Status.REVOKED
    assert old.revocation_reason == "key_compromise"
    assert new.employees.filter(removed_at__isnull=True).count() == 2


def test_renewal_complete_leaves_a_certificate_that_is_not_a_renewal_alone(world):
    _, package, _, cert = world
    other = issued_certificate(package=package)

    assert renewal_complete(new_certificate=other) is None
    cert.refresh_from_db()
    assert cert.status == Status.VALID
