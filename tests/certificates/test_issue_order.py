"""(三) Issuance of a paid order: the certificate chains to the CA root and passes pkilint, the
serial was stored before signing, seals are stored privately, the order ends 已完成, and a
second trigger never creates a second certificate."""

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from django.core.management import call_command

from certificates.models import CACertificate, CAInstitution, EnterpriseCertificate
from certificates.services import certificate_issue_for_order
from orders.models import Order, OrderEvent
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import UserFactory, filled_application, verified

pytestmark = pytest.mark.django_db
LINT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "lint_pkix_cert"


@pytest.fixture
def demo_ca(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    settings.DEBUG = False
    return CAInstitution.objects.get(code="nanyue")


@pytest.fixture
def paid_order(demo_ca):
    applicant = UserFactory()
    verified(applicant)
    order = filled_application(
        applicant=applicant, package=demo_ca.packages.first(), years=2, extra_seats=3
    )
    for step in [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED, OrderStatus.ISSUING]:
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def test_a_paid_order_gets_a_certificate_that_chains_to_its_ca_root(
    paid_order, demo_ca, django_capture_on_commit_callbacks, sms_outbox
):
    with django_capture_on_commit_callbacks(execute=True):
        cert = certificate_issue_for_order(order_id=paid_order.pk)

    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    issuing = x509.load_pem_x509_certificate(
        CACertificate.objects.get(ca=demo_ca, role="issuing").certificate_pem.encode()
    )
    root = x509.load_pem_x509_certificate(
        CACertificate.objects.get(ca=demo_ca, role="root").certificate_pem.encode()
    )
    leaf.verify_directly_issued_by(issuing)
    issuing.verify_directly_issued_by(root)
    subject = leaf.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "广州市示例科技有限公司"
    )
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    assert subject.get_attributes_for_oid(NameOID.STATE_OR_PROVINCE_NAME)[0].value == "广东省"
    assert subject.get_attributes_for_oid(NameOID.LOCALITY_NAME)[0].value == "广州市"
    assert paid_order.credit_code in subject.rfc4514_string()
    assert format(leaf.serial_number, "x") == cert.serial_hex
    assert leaf.serial_number.bit_length() >= 64
    assert (leaf.not_valid_after_utc.year - leaf.not_valid_before_utc.year) == 2
    from certificates.selectors import seats_total

    assert seats_total(cert) == 4
    assert cert.status == EnterpriseCertificate.Status.VALID
    paid_order.refresh_from_db()
    assert paid_order.status == OrderStatus.COMPLETED
    assert "数字证书已签发" in sms_outbox.messages()[-1]["text"]
    assert paid_order.invoice.pdf.read().startswith(b"%PDF-")


def test_the_issued_certificate_passes_pkilint(paid_order, tmp_path):
    cert = certificate_issue_for_order(order_id=paid_order.pk)
    pem = tmp_path / "leaf.pem"
    pem.write_text(cert.certificate_pem)

    result = subprocess.run(
        [LINT, "lint", "-s", "WARNING", str(pem)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stdout


def test_seals_are_private_transparent_pngs(paid_order, settings):
    cert = certificate_issue_for_order(order_id=paid_order.pk)

    for field in [cert.official_seal, cert.legal_rep_seal]:
        path = Path(field.path)
        assert path.is_relative_to(settings.PRIVATE_MEDIA_ROOT)
        assert path.read_bytes().startswith(b"\x89PNG")


def test_the_private_key_is_stored_encrypted_and_matches(paid_order):
    from certificates.keys import key_backend

    cert = certificate_issue_for_order(order_id=paid_order.pk)

    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    key = key_backend().unwrap(
        cert.encrypted_private_key, context=bytes.fromhex(cert.sha256_fingerprint)
    )
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()


def test_a_second_trigger_creates_no_second_certificate(paid_order):
    first = certificate_issue_for_order(order_id=paid_order.pk)
    second = certificate_issue_for_order(order_id=paid_order.pk)

    assert first.pk == second.pk
    assert EnterpriseCertificate.objects.filter(order=paid_order).count() == 1
    assert OrderEvent.objects.filter(order=paid_order, to_status="completed").count() == 1


def test_a_retry_after_a_crash_signs_with_the_serial_stored_before_signing(paid_order, monkeypatch):
    from certificates import services

    def crash(**kwargs):
        raise RuntimeError("worker died while signing")

    monkeypatch.setattr(services, "build_enterprise_certificate", crash)
    with pytest.raises(RuntimeError):
        certificate_issue_for_order(order_id=paid_order.pk)
    reserved = EnterpriseCertificate.objects.get(order=paid_order)
    assert reserved.status == EnterpriseCertificate.Status.PENDING
    monkeypatch.undo()

    cert = certificate_issue_for_order(order_id=paid_order.pk)

    assert cert.pk == reserved.pk
    assert cert.serial_hex == reserved.serial_hex
    assert cert.status == EnterpriseCertificate.Status.VALID


def test_an_unpaid_order_is_not_issued(demo_ca):
    order = filled_application(applicant=UserFactory(), package=demo_ca.packages.first())

    assert certificate_issue_for_order(order_id=order.pk) is None
    assert not EnterpriseCertificate.objects.exists()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DRAFT


def test_an_invoice_lost_at_completion_is_rendered_by_the_sweep(
    paid_order, monkeypatch, django_capture_on_commit_callbacks
):
    from invoices import pdf
    from invoices.models import Invoice
    from invoices.tasks import invoices_render_missing
    from orders.models import Payment

    Payment.objects.create(
        order=paid_order,
        out_trade_no=paid_order.number,
        transaction_id="4200000001",
        amount_fen=paid_order.amount_fen,
        payee_mchid="1900000101",
        paid_at=paid_order.updated_at,
        source="notify",
    )
    real_render = pdf.render_invoice_pdf

    def broken(**kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pdf, "render_invoice_pdf", broken)
    with django_capture_on_commit_callbacks(execute=True):
        certificate_issue_for_order(order_id=paid_order.pk)
    assert not Invoice.objects.filter(order=paid_order).exists()

    monkeypatch.setattr(pdf, "render_invoice_pdf", real_render)
    assert invoices_render_missing() == 1

    assert Invoice.objects.get(order=paid_order).pdf.read().startswith(b"%PDF-")


def test_the_certificate_names_its_crl_and_ocsp_responder_over_plain_http(paid_order, settings):
    from cryptography.x509.oid import AuthorityInformationAccessOID

    cert = x509.load_pem_x509_certificate(
        certificate_issue_for_order(order_id=paid_order.pk).certificate_pem.encode()
    )

    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    ocsp = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]
    crl = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert ocsp == [f"{settings.YQ_PKI_BASE_URL}/ocsp/nanyue/"]
    assert crl[0].full_name[0].value == f"{settings.YQ_PKI_BASE_URL}/crl/nanyue-issuing.crl"
    assert settings.YQ_PKI_BASE_URL.startswith("http://")
