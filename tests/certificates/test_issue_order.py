"""(三) Issuance of a paid order: the certificate chains to the CA root and passes pkilint, the
serial was stored before signing, seals are stored privately, the order ends 已完成, and a
second trigger never creates a second certificate."""

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.db import connection

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


# ---- The issuance's own costs: two commits, a few queries, the issuing key decrypted once ------


def _issuing_order(ca, n: int):
    """A paid order (签发中) of its own enterprise."""
    from tests.factories import make_credit_code

    applicant = UserFactory()
    verified(applicant)
    order = filled_application(
        applicant=applicant,
        package=ca.packages.first(),
        credit_code=make_credit_code(f"91440106MA6{n:06d}"),
    )
    for step in [OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED, OrderStatus.ISSUING]:
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def _issuing_replace(ca, *, stored_key=None) -> x509.Certificate:
    """Give the CA a new issuing certificate in its row, as a key rotation would; with
    `stored_key`, store that key instead of the certificate's own."""
    from cryptography.hazmat.primitives import hashes, serialization
    from django.utils import timezone

    from certificates.authority import build_issuing, build_root
    from certificates.keys import key_backend

    now = timezone.now()
    issued = build_issuing(
        organization=ca.name,
        root=build_root(organization=ca.name, now=now),
        now=now,
        crl_url="http://pki.example/crl",
    )
    fingerprint = issued.certificate.fingerprint(hashes.SHA256())
    CACertificate.objects.filter(ca=ca, role=CACertificate.Role.ISSUING).update(
        serial_hex=format(issued.certificate.serial_number, "x"),
        sha256_fingerprint=fingerprint.hex(),
        certificate_pem=issued.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        encrypted_private_key=key_backend().wrap(
            stored_key or issued.private_key, context=fingerprint
        ),
    )
    return issued.certificate


def _leaf(cert: EnterpriseCertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.certificate_pem.encode())


def test_the_issuing_key_is_decrypted_once_for_many_orders(demo_ca, monkeypatch):
    from certificates import services

    loads = []
    real_load = services.ca_private_key_load
    monkeypatch.setattr(
        services, "ca_private_key_load", lambda row: loads.append(row) or real_load(row)
    )
    orders = [_issuing_order(demo_ca, n) for n in range(3)]

    certs = [certificate_issue_for_order(order_id=o.pk) for o in orders]

    assert len(loads) == 1
    issuing = x509.load_pem_x509_certificate(
        CACertificate.objects.get(ca=demo_ca, role="issuing").certificate_pem.encode()
    )
    for cert in certs:
        _leaf(cert).verify_directly_issued_by(issuing)


def test_a_replaced_issuing_certificate_is_loaded_afresh_and_signs_from_then_on(demo_ca):
    first, second = _issuing_order(demo_ca, 1), _issuing_order(demo_ca, 2)
    old_leaf = _leaf(certificate_issue_for_order(order_id=first.pk))

    new_issuing = _issuing_replace(demo_ca)
    new_leaf = _leaf(certificate_issue_for_order(order_id=second.pk))

    new_leaf.verify_directly_issued_by(new_issuing)
    with pytest.raises(InvalidSignature):
        old_leaf.verify_directly_issued_by(new_issuing)


def test_a_stored_key_that_is_not_the_issuing_certificates_is_refused(demo_ca):
    from cryptography.hazmat.primitives.asymmetric import ec

    from certificates.services import IssuingKeyMismatch

    first, second = _issuing_order(demo_ca, 1), _issuing_order(demo_ca, 2)
    certificate_issue_for_order(order_id=first.pk)  # the cache now holds the good key
    _issuing_replace(demo_ca, stored_key=ec.generate_private_key(ec.SECP256R1()))

    with pytest.raises(IssuingKeyMismatch):
        certificate_issue_for_order(order_id=second.pk)

    assert EnterpriseCertificate.objects.get(order=second).status == "pending"
    assert Order.objects.get(pk=second.pk).status == OrderStatus.ISSUING


def test_the_cached_issuing_key_stays_out_of_reprs_and_logs(demo_ca):
    from certificates import services

    certificate_issue_for_order(order_id=_issuing_order(demo_ca, 1).pk)

    assert "key=" not in repr(services._issuers[demo_ca.pk])


def test_certificate_and_completion_are_written_together_or_not_at_all(paid_order, monkeypatch):
    from orders import services as order_services

    def lost_connection(**kwargs):
        raise RuntimeError("connection lost while appending the order event")

    monkeypatch.setattr(order_services, "_event_add", lost_connection)
    with pytest.raises(RuntimeError):
        certificate_issue_for_order(order_id=paid_order.pk)

    reserved = EnterpriseCertificate.objects.get(order=paid_order)
    assert reserved.status == EnterpriseCertificate.Status.PENDING
    assert reserved.certificate_pem == ""
    assert Order.objects.get(pk=paid_order.pk).status == OrderStatus.ISSUING
    monkeypatch.undo()

    cert = certificate_issue_for_order(order_id=paid_order.pk)

    assert cert.serial_hex == reserved.serial_hex
    assert cert.status == EnterpriseCertificate.Status.VALID
    assert Order.objects.get(pk=paid_order.pk).status == OrderStatus.COMPLETED


def test_issuing_an_order_takes_a_bounded_number_of_queries(
    demo_ca, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    certificate_issue_for_order(order_id=_issuing_order(demo_ca, 1).pk)  # the issuer is cached
    order = _issuing_order(demo_ca, 2)

    # Order; reservation (savepoint, insert, release); issuer check; completion (savepoint,
    # certificate lock and update, order update, chain head, event insert, release). The
    # side effects are queued on commit and read nothing (the SMS text is built before). On
    # PostgreSQL one more: the audit chain's advisory lock.
    with (
        django_assert_max_num_queries(12 + (connection.vendor == "postgresql")),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        certificate_issue_for_order(order_id=order.pk)

    assert len(callbacks) == 2


@pytest.mark.django_db(transaction=True)
def test_an_issuance_commits_twice_the_serial_then_certificate_and_completion(demo_ca, monkeypatch):
    from django.db import connection

    from certificates import services

    order = _issuing_order(demo_ca, 1)
    queued = []
    monkeypatch.setattr(services, "_invoice_queue", lambda order_id: queued.append("invoice"))
    monkeypatch.setattr(services, "_issued_sms_queue", lambda **kwargs: queued.append("sms"))
    commits = []
    real_commit = connection.commit

    def counted_commit():
        commits.append(
            (
                EnterpriseCertificate.objects.filter(order=order)
                .values_list("status", flat=True)
                .first(),
            )
        )
        real_commit()

    monkeypatch.setattr(connection, "commit", counted_commit)

    certificate_issue_for_order(order_id=order.pk)

    monkeypatch.undo()
    assert commits == [("pending",), ("valid",)]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED
    assert queued == ["invoice", "sms"]


def test_the_issued_notice_goes_to_the_bulk_queue_and_issuance_to_the_default_one():
    from yueqiqian.celery import app

    def queue(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert queue("certificates.tasks.certificate_issue") == "celery"
    assert queue("accounts.tasks.sms_notice_deliver") == "bulk"
    # A login code is waited for: it stays ahead of bulk work.
    assert queue("accounts.tasks.sms_deliver") == "celery"


def test_a_worker_consumes_both_queues_issuance_first():
    from yueqiqian.celery import app

    # What a worker started without -Q consumes, in the order it polls them ("priority").
    assert list(app.amqp.queues.consume_from) == ["celery", "bulk"]
    assert app.conf.broker_transport_options["queue_order_strategy"] == "priority"
