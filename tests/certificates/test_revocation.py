"""挂失 / 注销 and the revocation services: the administrator revokes with a fresh face check,
staff within their scope; a certificate is revoked once; each CA certificate's CRL is served at
the address the certificates name, lists what it must, passes pkilint, and its number only goes
up; the OCSP responder answers good / revoked / unknown, signed by the issuing CA, nonce echoed,
and refuses what is not a request; after revocation the enterprise may apply again."""

import base64
import datetime as dt
import io
import itertools
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from certificates.models import CACertificate, CertificateRevocationList, EnterpriseCertificate
from certificates.revocation import (
    FaceCheckPhoto,
    RevocationError,
    RevocationNotAllowed,
    certificate_revoke,
    crl_current,
    crl_generate,
    crls_refresh,
)
from certificates.services import ca_hierarchy_create, certificate_issue_for_order
from orders.services import ApplicationError, agreement_accept, order_transition
from orders.states import OrderStatus
from tests.factories import (
    AgreementVersionFactory,
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    make_id_number,
    verified,
)
from tests.test_admin_review import staff_user

pytestmark = pytest.mark.django_db
BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
Status = EnterpriseCertificate.Status
Reason = EnterpriseCertificate.RevocationReason
FAILING_ID = make_id_number(region="110101", birth="19900307", sequence="123")


# ---- Helpers (test_renewal uses them too) ----------


def ca_with_hierarchy(**kwargs):
    """A CA institution with its root and issuing CA, a package and an agreement."""
    ca = CAInstitutionFactory(**kwargs)
    ca_hierarchy_create(ca=ca)
    package = PackageFactory(ca=ca, min_years=1, max_years=3)
    AgreementVersionFactory(ca=ca)
    return ca, package


def submit(order, applicant):
    agreement = order.ca.agreements.order_by("-version").first()
    return agreement_accept(order=order, actor=applicant, agreement=agreement, ip="", user_agent="")


def pay_and_issue(order) -> EnterpriseCertificate:
    """Authorization and payment as the flow leaves them (已授权待支付 → 签发中), then issuance."""
    order.refresh_from_db()
    if order.status == OrderStatus.AWAITING_AUTHORIZATION:
        order = order_transition(order=order, to=OrderStatus.AUTHORIZED, actor_label="测试")
    order = order_transition(order=order, to=OrderStatus.ISSUING, actor_label="微信支付")
    return certificate_issue_for_order(order_id=order.pk)


_credit_codes = itertools.count(1)


def new_credit_code() -> str:
    """A valid credit code of a Guangzhou enterprise no other test uses."""
    return make_credit_code(f"91440106MA5{next(_credit_codes):06d}")


def issued_certificate(*, package, applicant=None, credit_code=None, extra_seats=0, years=1):
    applicant = applicant or UserFactory()
    if not hasattr(applicant, "identity"):
        verified(applicant)
    order = filled_application(
        applicant=applicant,
        package=package,
        credit_code=credit_code or new_credit_code(),
        extra_seats=extra_seats,
        years=years,
    )
    submit(order, applicant)
    return pay_and_issue(order)


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (480, 640), (236, 200, 180)).save(buffer, "JPEG")
    return buffer.getvalue()


def photo() -> FaceCheckPhoto:
    return FaceCheckPhoto(selfie=jpeg_bytes(), content_type="image/jpeg", ip="203.0.113.9")


def issuing_of(ca) -> CACertificate:
    return CACertificate.objects.get(ca=ca, role=CACertificate.Role.ISSUING)


def root_of(ca) -> CACertificate:
    return CACertificate.objects.get(ca=ca, role=CACertificate.Role.ROOT)


def x509_of(row) -> x509.Certificate:
    return x509.load_pem_x509_certificate(row.certificate_pem.encode())


def crl_url_in(cert: x509.Certificate) -> str:
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    return points[0].full_name[0].value


def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate, *, nonce=None, algo=None):
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, algo or hashes.SHA1())  # noqa: S303 - what clients send
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def ocsp_post(client, ca_code: str, body: bytes):
    return client.post(f"/ocsp/{ca_code}/", data=body, content_type="application/ocsp-request")


def lint(tool: str, der: bytes, tmp_path, *args) -> subprocess.CompletedProcess:
    path = tmp_path / f"{tool}.der"
    path.write_bytes(der)
    return subprocess.run(
        [BIN / tool, "lint", *args, "-s", "WARNING", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_lint_clean(result: subprocess.CompletedProcess) -> None:
    """pkilint exits 0 and reports nothing at WARNING or above."""
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


@pytest.fixture(autouse=True)
def _sandbox_faces(settings):
    settings.YQ_FACE_PROVIDER = "accounts.faceauth.SandboxFaceCheckProvider"
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [FAILING_ID]


@pytest.fixture
def world():
    ca, package = ca_with_hierarchy(code="nanyue-demo")
    holder = UserFactory()
    verified(holder, id_number=make_id_number(sequence="031"))
    cert = issued_certificate(package=package, applicant=holder)
    return ca, package, holder, cert


# ---- 挂失 / 注销 by the administrator ----------


def test_the_holder_reports_a_lost_certificate_with_a_face_check(
    world, django_capture_on_commit_callbacks
):
    ca, _, holder, cert = world

    with django_capture_on_commit_callbacks(execute=True):
        certificate_revoke(
            certificate=cert, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
        )

    cert.refresh_from_db()
    assert cert.status == Status.REVOKED
    assert cert.revocation_reason == Reason.KEY_COMPROMISE
    assert cert.revoked_by == holder
    assert timezone.now() - cert.revoked_at < dt.timedelta(seconds=5)
    # The issuing CA's CRL was signed again on commit and lists it.
    crl = x509.load_der_x509_crl(bytes(issuing_of(ca).crls.first().der))
    entry = crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16))
    assert entry is not None


def test_a_failed_face_check_revokes_nothing(world):
    _, _, _, cert = world
    holder = UserFactory()
    verified(holder, id_number=FAILING_ID)
    EnterpriseCertificate.objects.filter(pk=cert.pk).update(holder=holder)
    cert.refresh_from_db()

    with pytest.raises(RevocationError) as refused:
        certificate_revoke(
            certificate=cert, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
        )

    assert refused.value.field == "selfie"
    assert "人脸比对未通过" in refused.value.message
    cert.refresh_from_db()
    assert cert.status == Status.VALID
    assert cert.revoked_at is None


def test_the_holder_cannot_revoke_without_a_face_check(world):
    _, _, holder, cert = world

    with pytest.raises(RevocationError):
        certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=None)

    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.VALID


def test_the_holder_chooses_only_between_lost_and_no_longer_used(world):
    _, _, holder, cert = world

    for reason in (Reason.AFFILIATION_CHANGED, Reason.SUPERSEDED, "unspecified"):
        with pytest.raises(RevocationError) as refused:
            certificate_revoke(certificate=cert, actor=holder, reason=reason, face_check=photo())
        assert refused.value.field == "reason"
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.VALID


def test_an_employee_or_a_stranger_cannot_revoke(world):
    _, _, _, cert = world
    stranger = UserFactory()
    verified(stranger, id_number=make_id_number(sequence="045"))

    with pytest.raises(RevocationNotAllowed):
        certificate_revoke(
            certificate=cert, actor=stranger, reason=Reason.CESSATION, face_check=photo()
        )


def test_face_checks_for_revocation_are_rate_limited(world, settings):
    from yueqiqian.ratelimit import RateLimited

    _, _, holder, cert = world
    settings.YQ_RATE_LIMITS = {**settings.YQ_RATE_LIMITS, "face_check_user": (1, 3600)}
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]
    with pytest.raises(RevocationError):
        certificate_revoke(
            certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo()
        )

    with pytest.raises(RateLimited):
        certificate_revoke(
            certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo()
        )


def test_a_certificate_is_revoked_once(world):
    _, _, holder, cert = world
    stale = EnterpriseCertificate.objects.get(pk=cert.pk)
    certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo())

    # A second request that read the certificate before the first one committed.
    with pytest.raises(RevocationError, match="无需重复"):
        certificate_revoke(
            certificate=stale, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
        )
    # And one that reads it now.
    with pytest.raises(RevocationError):
        certificate_revoke(
            certificate=cert, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
        )
    cert.refresh_from_db()
    assert cert.revocation_reason == Reason.CESSATION


# ---- The administrator's pages ----------


def test_the_revoke_page_asks_the_reason_then_the_face_check(world, client):
    _, _, holder, cert = world
    client.force_login(holder)
    url = reverse("revocation:revoke", args=[cert.pk])

    choose = client.get(url)
    confirm = client.get(url, {"reason": Reason.KEY_COMPROMISE})
    done = client.post(
        url,
        {
            "reason": Reason.KEY_COMPROMISE,
            "confirm": "on",
            "selfie": SimpleUploadedFile("me.jpg", jpeg_bytes(), content_type="image/jpeg"),
        },
    )

    assert "挂失" in choose.text
    assert "注销" in choose.text
    assert 'name="selfie"' not in choose.text
    assert 'name="selfie"' in confirm.text
    assert "确认挂失" in confirm.text
    assert done.status_code == 302
    assert done["Location"] == reverse("revocation:revoke_done", args=[cert.pk])
    page = client.get(done["Location"])
    assert "已注销" in page.text
    assert "挂失" in page.text
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.REVOKED


def test_the_revoke_page_needs_the_confirmation_and_a_photo(world, client):
    _, _, holder, cert = world
    client.force_login(holder)
    url = reverse("revocation:revoke", args=[cert.pk])

    response = client.post(url, {"reason": Reason.CESSATION})

    assert response.status_code == 400
    assert "请勾选确认" in response.text
    assert "请拍摄人脸照片" in response.text
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.VALID


def test_the_revoke_page_shows_a_failed_face_check_on_the_photo(world, client, settings):
    _, _, holder, cert = world
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]
    client.force_login(holder)

    response = client.post(
        reverse("revocation:revoke", args=[cert.pk]),
        {
            "reason": Reason.CESSATION,
            "confirm": "on",
            "selfie": SimpleUploadedFile("me.jpg", jpeg_bytes(), content_type="image/jpeg"),
        },
    )

    assert response.status_code == 400
    assert "人脸比对未通过" in response.text
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.VALID


def test_someone_elses_certificate_is_a_404(world, client):
    _, _, _, cert = world
    client.force_login(UserFactory())

    assert client.get(reverse("revocation:revoke", args=[cert.pk])).status_code == 404
    assert client.get(reverse("revocation:revoke_done", args=[cert.pk])).status_code == 404


# ---- 注销 by staff in the admin ----------


def test_support_revokes_with_a_reason_in_the_admin(world, client):
    _ca, _, _, cert = world
    support = staff_user("13900000301", "客服")
    client.force_login(support)
    url = reverse("admin:certificates_enterprisecertificate_revoke", args=[cert.pk])

    page = client.get(reverse("admin:certificates_enterprisecertificate_change", args=[cert.pk]))
    form = client.get(url)
    response = client.post(url, {"reason": Reason.AFFILIATION_CHANGED, "confirm": "on"})

    assert url in page.text
    assert form.status_code == 200
    assert "企业信息变更" in form.text
    assert response.status_code == 302
    cert.refresh_from_db()
    assert cert.status == Status.REVOKED
    assert cert.revocation_reason == Reason.AFFILIATION_CHANGED
    assert cert.revoked_by == support
    assert LogEntry.objects.filter(object_id=str(cert.pk), user=support).exists()


def test_staff_must_confirm(world, client):
    _, _, _, cert = world
    client.force_login(staff_user("13900000302", "客服"))
    url = reverse("admin:certificates_enterprisecertificate_revoke", args=[cert.pk])

    response = client.post(url, {"reason": Reason.CESSATION})

    assert response.status_code == 200
    assert "请勾选确认" in response.text
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.VALID


def test_the_cas_own_reviewer_may_revoke_another_cas_reviewer_may_not(world, client):
    ca, _, _, cert = world
    other_ca = CAInstitutionFactory()
    own = staff_user("13900000303", "CA审核员", ca=ca)
    other = staff_user("13900000304", "CA审核员", ca=other_ca)
    url = reverse("admin:certificates_enterprisecertificate_revoke", args=[cert.pk])

    client.force_login(other)
    hidden = client.post(url, {"reason": Reason.CESSATION, "confirm": "on"})
    with pytest.raises(RevocationNotAllowed):
        certificate_revoke(certificate=cert, actor=other, reason=Reason.CESSATION, face_check=None)
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.VALID

    client.force_login(own)
    done = client.post(url, {"reason": Reason.CESSATION, "confirm": "on"})

    assert hidden.status_code == 404
    assert done.status_code == 302
    assert EnterpriseCertificate.objects.get(pk=cert.pk).status == Status.REVOKED


def test_staff_without_a_role_cannot_revoke(world):
    _, _, _, cert = world

    with pytest.raises(RevocationNotAllowed):
        certificate_revoke(
            certificate=cert,
            actor=staff_user("13900000305", None),
            reason=Reason.CESSATION,
            face_check=None,
        )


# ---- CRLs ----------


def test_the_issuing_cas_crl_lists_the_revoked_certificate_and_is_signed_by_it(world):
    ca, _, holder, cert = world
    certificate_revoke(
        certificate=cert, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
    )
    cert.refresh_from_db()
    issuing = issuing_of(ca)
    stored = crl_generate(issuer=issuing)

    crl = x509.load_der_x509_crl(bytes(stored.der))
    issuer_cert = x509_of(issuing)
    assert crl.is_signature_valid(issuer_cert.public_key())
    assert crl.issuer == issuer_cert.subject
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA256)
    entry = crl.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16))
    assert entry.revocation_date_utc == cert.revoked_at
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.key_compromise
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == stored.number
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=1)
    assert stored.this_update == crl.last_update_utc


def test_the_roots_crl_is_empty_and_signed_by_the_root(world):
    ca, _, holder, cert = world
    certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo())
    root = root_of(ca)

    crl = x509.load_der_x509_crl(bytes(crl_generate(issuer=root).der))

    assert crl.is_signature_valid(x509_of(root).public_key())
    assert crl.issuer == x509_of(root).subject
    assert len(crl) == 0
    assert isinstance(crl.signature_hash_algorithm, hashes.SHA384)


def test_both_crls_pass_pkilint(world, tmp_path):
    ca, _, holder, cert = world
    certificate_revoke(
        certificate=cert, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
    )
    other = issued_certificate(package=world[1])
    certificate_revoke(
        certificate=other,
        actor=staff_user("13900000306", "客服"),
        reason=Reason.AFFILIATION_CHANGED,
        face_check=None,
    )
    issuing_crl = crl_generate(issuer=issuing_of(ca))
    root_crl = crl_generate(issuer=root_of(ca))
    assert len(x509.load_der_x509_crl(bytes(issuing_crl.der))) == 2

    for der, kind in [(bytes(issuing_crl.der), "CRL"), (bytes(root_crl.der), "ARL")]:
        for profile in ("PKIX", "BR"):
            assert_lint_clean(lint("lint_crl", der, tmp_path, "-t", kind, "-p", profile))


def test_crls_are_served_at_the_addresses_the_certificates_name(world, client):
    ca, _, holder, cert = world
    certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo())
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    issuing = x509_of(issuing_of(ca))
    root = x509_of(root_of(ca))

    for named_in, signer in [(leaf, issuing), (issuing, root)]:
        url = crl_url_in(named_in)
        response = client.get(urllib.parse.urlsplit(url).path)

        assert response.status_code == 200, url
        assert response["Content-Type"] == "application/pkix-crl"
        crl = x509.load_der_x509_crl(response.content)
        assert crl.is_signature_valid(signer.public_key())
        cache = response["Cache-Control"]
        assert cache.startswith("public, max-age=")
        max_age = int(cache.split("max-age=")[1])
        assert 0 < max_age <= (crl.next_update_utc - timezone.now()).total_seconds()
    served = x509.load_der_x509_crl(
        client.get(urllib.parse.urlsplit(crl_url_in(leaf)).path).content
    )
    assert served.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None


def test_the_first_request_signs_a_crl_and_later_ones_serve_it(world, client):
    ca, _, _, _ = world
    path = f"/crl/{ca.code}-root.crl"
    assert not root_of(ca).crls.exists()

    first = client.get(path)
    second = client.get(path)

    assert first.status_code == 200
    assert root_of(ca).crls.count() == 1
    assert first.content == second.content


def test_an_overdue_crl_is_signed_again_when_asked_for(world, client):
    ca, _, _, _ = world
    old = crl_generate(issuer=root_of(ca))

    with time_machine.travel(old.next_update + dt.timedelta(minutes=1)):
        response = client.get(f"/crl/{ca.code}-root.crl")
        served = x509.load_der_x509_crl(response.content)

    assert served.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    assert served.next_update_utc > old.next_update


def test_an_unknown_ca_or_role_has_no_crl(world, client):
    ca, _, _, _ = world

    assert client.get("/crl/nosuchca-issuing.crl").status_code == 404
    assert client.get(f"/crl/{ca.code}-leaf.crl").status_code == 404


def test_the_crl_number_only_goes_up(world, client):
    ca, _, holder, cert = world
    issuing = issuing_of(ca)
    first = crl_current(ca_code=ca.code, role="issuing")
    certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo())
    crl_generate(issuer=issuing)
    crls_refresh()  # the beat adds nothing while the newest is fresh and complete
    latest = crl_current(ca_code=ca.code, role="issuing")

    numbers = list(
        CertificateRevocationList.objects.filter(issuer=issuing)
        .order_by("created_at", "id")
        .values_list("number", flat=True)
    )
    assert numbers == sorted(set(numbers))
    assert latest.number == numbers[-1] > first.number
    served = x509.load_der_x509_crl(client.get(f"/crl/{ca.code}-issuing.crl").content)
    assert served.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == (
        latest.number
    )


def test_the_beat_signs_crls_that_are_due_missing_or_miss_a_revocation(world):
    ca, _, _, cert = world
    assert crls_refresh() == 2  # none yet: root and issuing
    assert crls_refresh() == 0  # fresh

    # A revocation whose on-commit CRL was lost.
    EnterpriseCertificate.objects.filter(pk=cert.pk).update(
        status=Status.REVOKED, revoked_at=timezone.now(), revocation_reason=Reason.CESSATION
    )
    assert crls_refresh() == 1
    listed = x509.load_der_x509_crl(bytes(issuing_of(ca).crls.first().der))
    assert listed.get_revoked_certificate_by_serial_number(int(cert.serial_hex, 16))

    with time_machine.travel(timezone.now() + dt.timedelta(hours=11)):
        assert crls_refresh() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(hours=13)):
        assert crls_refresh() == 2


def test_the_beat_task_is_a_celery_task():
    from certificates.tasks_crl import crls_refresh as task

    assert task.name == "certificates.tasks_crl.crls_refresh"


# ---- OCSP ----------


def ocsp_answer(response) -> ocsp.OCSPResponse:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(response.content)


def _assert_signed_by(answer: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    issuer.public_key().verify(
        answer.signature, answer.tbs_response_bytes, ec.ECDSA(answer.signature_hash_algorithm)
    )
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert answer.responder_key_hash == ski.digest
    assert answer.responder_name is None
    assert isinstance(answer.signature_hash_algorithm, hashes.SHA256)


def test_ocsp_says_good_for_a_valid_certificate_signed_by_the_issuing_ca(world, client, tmp_path):
    ca, _, _, cert = world
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    issuing = x509_of(issuing_of(ca))

    response = ocsp_post(client, ca.code, ocsp_request(leaf, issuing, nonce=b"n" * 16))

    answer = ocsp_answer(response)
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert answer.serial_number == leaf.serial_number
    assert isinstance(answer.hash_algorithm, hashes.SHA1)  # the client's CertID, echoed
    _assert_signed_by(answer, issuing)
    assert answer.next_update_utc - answer.this_update_utc == dt.timedelta(hours=1)
    assert abs(answer.this_update_utc - timezone.now()) < dt.timedelta(seconds=5)
    nonce = answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"n" * 16
    assert response["Cache-Control"] == "no-store"
    assert_lint_clean(lint("lint_ocsp_response", response.content, tmp_path))


def test_ocsp_says_revoked_with_time_and_reason(world, client, tmp_path):
    ca, _, holder, cert = world
    certificate_revoke(
        certificate=cert, actor=holder, reason=Reason.KEY_COMPROMISE, face_check=photo()
    )
    cert.refresh_from_db()
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    issuing = x509_of(issuing_of(ca))

    response = ocsp_post(client, ca.code, ocsp_request(leaf, issuing, algo=hashes.SHA256()))

    answer = ocsp_answer(response)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_time_utc == cert.revoked_at
    assert answer.revocation_reason == x509.ReasonFlags.key_compromise
    assert isinstance(answer.hash_algorithm, hashes.SHA256)
    _assert_signed_by(answer, issuing)
    assert_lint_clean(lint("lint_ocsp_response", response.content, tmp_path))


def test_ocsp_says_unknown_for_a_serial_never_issued(world, client, tmp_path):
    ca, _, _, _ = world
    issuing = x509_of(issuing_of(ca))
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            issuer_name_hash=_digest(issuing.subject.public_bytes()),
            issuer_key_hash=_key_hash(issuing),
            serial_number=x509.random_serial_number(),
            algorithm=hashes.SHA1(),  # noqa: S303 - what clients send
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )

    response = ocsp_post(client, ca.code, request)

    answer = ocsp_answer(response)
    assert answer.certificate_status == ocsp.OCSPCertStatus.UNKNOWN
    _assert_signed_by(answer, issuing)
    assert_lint_clean(lint("lint_ocsp_response", response.content, tmp_path))


def _digest(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA1())  # noqa: S303 - OCSP CertIDs commonly use SHA-1
    h.update(data)
    return h.finalize()


def _key_hash(cert: x509.Certificate) -> bytes:
    return _digest(
        cert.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def test_ocsp_over_get_with_the_request_in_the_path(world, client):
    ca, _, _, cert = world
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    request = ocsp_request(leaf, x509_of(issuing_of(ca)))
    encoded = urllib.parse.quote(base64.b64encode(request).decode(), safe="")

    response = client.get(f"/ocsp/{ca.code}/{encoded}")

    answer = ocsp_answer(response)
    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert response["Cache-Control"].startswith("public, max-age=")


def test_a_revoked_certificate_stops_being_good_at_once(world, client):
    ca, _, holder, cert = world
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    request = ocsp_request(leaf, x509_of(issuing_of(ca)))
    before = ocsp_answer(ocsp_post(client, ca.code, request)).certificate_status

    certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo())

    after = ocsp_answer(ocsp_post(client, ca.code, request))
    assert before == ocsp.OCSPCertStatus.GOOD
    assert after.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_reason == x509.ReasonFlags.cessation_of_operation


@pytest.mark.parametrize(
    "body",
    [b"", b"not an OCSP request", b"\x30\x00", b"\x30" + b"\x00" * (11 * 1024)],
    ids=["empty", "garbage", "empty-sequence", "oversized"],
)
def test_ocsp_refuses_what_is_not_a_request_as_malformed(world, client, body):
    ca, _, _, _ = world

    answer = ocsp_answer(ocsp_post(client, ca.code, body))

    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_refuses_a_nonce_longer_than_rfc_8954_allows(world, client):
    ca, _, _, cert = world
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    request = ocsp_request(leaf, x509_of(issuing_of(ca)), nonce=b"x" * 33)

    answer = ocsp_answer(ocsp_post(client, ca.code, request))

    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_over_get_refuses_bad_base64_as_malformed(world, client):
    ca, _, _, _ = world

    answer = ocsp_answer(client.get(f"/ocsp/{ca.code}/%%%not-base64!!"))
    bare = ocsp_answer(client.get(f"/ocsp/{ca.code}/"))

    assert answer.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert bare.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_for_an_unknown_ca_or_another_cas_certificate_is_unauthorized(world, client):
    ca, _, _, cert = world
    other_ca, _ = ca_with_hierarchy()
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    request = ocsp_request(leaf, x509_of(issuing_of(ca)))

    unknown = ocsp_answer(ocsp_post(client, "nosuchca", request))
    elsewhere = ocsp_answer(ocsp_post(client, other_ca.code, request))

    assert unknown.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert elsewhere.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_ocsp_needs_no_csrf_token_or_login(world):
    from django.test import Client

    ca, _, _, cert = world
    leaf = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    client = Client(enforce_csrf_checks=True)

    answer = ocsp_answer(ocsp_post(client, ca.code, ocsp_request(leaf, x509_of(issuing_of(ca)))))

    assert answer.certificate_status == ocsp.OCSPCertStatus.GOOD


# ---- Applying again ----------


def test_after_revocation_the_enterprise_may_apply_again(world):
    _ca, package, holder, cert = world
    with pytest.raises(ApplicationError, match="已有有效的数字证书"):
        filled_application(applicant=holder, package=package, credit_code=cert.credit_code)

    certificate_revoke(certificate=cert, actor=holder, reason=Reason.CESSATION, face_check=photo())
    order = filled_application(applicant=holder, package=package, credit_code=cert.credit_code)
    submitted = submit(order, holder)

    assert submitted.status == OrderStatus.AWAITING_AUTHORIZATION
    new = pay_and_issue(submitted)
    assert new.status == Status.VALID
    assert new.credit_code == cert.credit_code
