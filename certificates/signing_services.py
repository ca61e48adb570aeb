"""电子签章 services: signing a PDF with an enterprise certificate, the 签署记录, and the public
verification of signed PDFs.

Who may sign: the certificate's holder (管理员), or an employee with an active authorization for
the user's phone number; either with a verified identity (实名认证), on a certificate that is
valid and not past its date, and only after a fresh face check of their own identity. The
document is never stored: the log keeps its name, its SHA-256 and the signed file's SHA-256.

Verification adds to pyHanko's judgment (certificates/signing.py) what only the database knows:
our CA roots, the certificate's status now, and whether our log has the signing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptography import x509
from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.faceauth import face_provider
from accounts.selectors import identity_for
from accounts.services import IdentityCheckFailed, face_check_run
from yueqiqian import ratelimit

from . import signing
from .keys import KeyDecryptionError, key_backend
from .models import (
    CACertificate,
    EmployeeAuthorization,
    EnterpriseCertificate,
    SigningRecord,
)
from .services import ca_chain_pem
from .signing import PdfUnsignable, SignatureFinding, SigningCredentials, Verdict

if TYPE_CHECKING:
    from accounts.models import Identity, User

logger = logging.getLogger(__name__)

IDENTITY_REQUIRED_MESSAGE = "签署前请先完成实名认证"
NOT_AUTHORIZED_MESSAGE = "您已不是该证书的授权用户，不能签署"
REVOKED_MESSAGE = "该证书已注销，不能再用于签署"
EXPIRED_MESSAGE = "该证书已过期，不能再用于签署"
NOT_IN_FORCE_MESSAGE = "该证书当前不可用于签署"
NO_SEAL_MESSAGE = "该证书没有机构公章，无法签章，请联系客服"
KEY_UNAVAILABLE_MESSAGE = "签章服务暂时不可用，请稍后再试或联系客服"

# Failed face checks before signing are limited like those of 实名认证 (the same scopes), counted
# apart from them: a passed check costs nothing, so a busy signer is never held up.
FACE_SCOPES = ("face_check_user", "face_check_ip")
# Verification is public: uploads are limited per IP. No scope of its own yet — it shares the
# share link's limit (60 an hour), counted apart under its own subject.
VERIFY_SCOPE = "share_link_open_ip"

DOCUMENT_NAME_MAX = 200
DOWNLOAD_SUFFIX = "-已签章.pdf"


class SigningRefused(Exception):
    """Nothing was signed; `message` is for the user, next to `field` ("document", "page",
    "selfie") when it is about one of them."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class SignedDocument:
    record: SigningRecord
    content: bytes = field(repr=False)
    download_name: str


# ---- Reads --------------------------------------------------------------------------------------


def _employee_of(user: User):
    return EmployeeAuthorization.objects.filter(
        certificate=OuterRef("pk"), phone=user.phone, removed_at__isnull=True
    )


def signing_certificate_for(*, user: User, pk: int) -> EnterpriseCertificate | None:
    """The issued certificate `pk` if the user holds it or is an active employee on it, with
    `is_holder`; None for anyone else (a removed employee included)."""
    return (
        EnterpriseCertificate.objects.exclude(status=EnterpriseCertificate.Status.PENDING)
        .filter(Q(holder=user) | Exists(_employee_of(user)), pk=pk)
        .annotate(is_holder=ExpressionWrapper(Q(holder=user), output_field=BooleanField()))
        .select_related("ca")
        .first()
    )


def signing_records_for(
    *, certificate: EnterpriseCertificate, user: User
) -> QuerySet[SigningRecord]:
    """签署记录: all of the certificate's for its holder, an employee's own for an employee;
    newest first, each with its signer and the signer's identity in the same query."""
    records = SigningRecord.objects.filter(certificate=certificate).select_related(
        "signer", "signer__identity"
    )
    if certificate.holder_id != user.pk:
        records = records.filter(signer=user)
    return records.order_by("-signed_at", "-pk")


def signing_refusal(
    certificate: EnterpriseCertificate, *, user: User, now: dt.datetime | None = None
) -> str | None:
    """Why `user` cannot sign with the certificate now, or None when they can (identity aside)."""
    now = now or timezone.now()
    if (
        certificate.holder_id != user.pk
        and not EmployeeAuthorization.objects.filter(
            certificate=certificate, phone=user.phone, removed_at__isnull=True
        ).exists()
    ):
        return NOT_AUTHORIZED_MESSAGE
    if certificate.status == EnterpriseCertificate.Status.REVOKED:
        return REVOKED_MESSAGE
    if certificate.status == EnterpriseCertificate.Status.EXPIRED or (
        certificate.not_after is not None and certificate.not_after <= now
    ):
        return EXPIRED_MESSAGE
    if certificate.status != EnterpriseCertificate.Status.VALID:
        return NOT_IN_FORCE_MESSAGE
    return None


# ---- Signing ------------------------------------------------------------------------------------


def document_name_clean(name: str) -> str:
    """The uploaded file's own name, for the log and the download: no folders, no control
    characters, at most DOCUMENT_NAME_MAX characters, never empty."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    if not name:
        name = "文件.pdf"
    if len(name) > DOCUMENT_NAME_MAX:
        stem, dot, extension = name.rpartition(".")
        if dot and len(extension) <= 10:
            name = stem[: DOCUMENT_NAME_MAX - len(extension) - 1] + "." + extension
        else:
            name = name[:DOCUMENT_NAME_MAX]
    return name


def signed_download_name(document_name: str) -> str:
    """招标文件.pdf → 招标文件-已签章.pdf"""
    stem = re.sub(r"\.pdf$", "", document_name, flags=re.IGNORECASE) or "文件"
    return stem + DOWNLOAD_SUFFIX


def _credentials(certificate: EnterpriseCertificate) -> SigningCredentials:
    try:
        private_key = key_backend().unwrap(
            certificate.encrypted_private_key,
            context=bytes.fromhex(certificate.sha256_fingerprint),
        )
    except (KeyDecryptionError, TypeError, ValueError) as exc:
        logger.error("private key of certificate %s unavailable: %r", certificate.serial_hex, exc)
        raise SigningRefused(KEY_UNAVAILABLE_MESSAGE) from exc
    return SigningCredentials(
        certificate=x509.load_pem_x509_certificate(certificate.certificate_pem.encode()),
        private_key=private_key,
        chain=tuple(x509.load_pem_x509_certificates(ca_chain_pem(ca=certificate.ca).encode())),
    )


def _seal_png(certificate: EnterpriseCertificate) -> bytes:
    if not certificate.official_seal:
        raise SigningRefused(NO_SEAL_MESSAGE)
    try:
        with certificate.official_seal.open("rb") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        logger.error("official seal of certificate %s is missing", certificate.serial_hex)
        raise SigningRefused(NO_SEAL_MESSAGE) from exc


def _face_check(
    *, user: User, identity: Identity, selfie: bytes, content_type: str, ip: str, subject: str
) -> None:
    """A fresh face check of the user's own verified identity; SigningRefused when it fails.

    Only failures are counted against the limits; the limits are checked before the provider
    is asked.
    """
    for scope, who in zip(FACE_SCOPES, (f"sign:{user.pk}", f"sign:{ip}"), strict=True):
        ratelimit.check(scope, who)
    try:
        face_check_run(
            provider=face_provider(),
            real_name=identity.real_name,
            id_number=identity.id_number,
            selfie=selfie,
            content_type=content_type,
            subject=subject,
        )
    except IdentityCheckFailed as exc:
        for scope, who in zip(FACE_SCOPES, (f"sign:{user.pk}", f"sign:{ip}"), strict=True):
            with contextlib.suppress(ratelimit.RateLimited):
                ratelimit.hit(scope, who)
        raise SigningRefused(exc.message, field="selfie") from exc


def document_sign(
    *,
    certificate: EnterpriseCertificate,
    signer: User,
    document: bytes,
    document_name: str,
    page: int,
    position: str,
    selfie: bytes,
    selfie_content_type: str,
    ip: str,
) -> SignedDocument:
    """Sign the PDF with the certificate and its official seal, and log it.

    Checks everything itself, whatever the caller checked, cheapest first: the signer's
    identity, their right to the certificate and its status, the page — then the face check
    (rate limited: raises RateLimited) — then, holding the certificate's row lock so that a
    revocation cannot slip in between, the same rules again, the signature and the record.
    Raises SigningRefused with the reason; nothing is signed or logged then.
    """
    identity = identity_for(signer)
    if identity is None:
        raise SigningRefused(IDENTITY_REQUIRED_MESSAGE)
    refusal = signing_refusal(certificate, user=signer)
    if refusal:
        raise SigningRefused(refusal)
    try:
        pages = signing.pdf_page_count(document)
    except PdfUnsignable as exc:
        raise SigningRefused(exc.message, field=exc.field) from exc
    if not 1 <= page <= pages:
        raise SigningRefused(f"该文件共 {pages} 页，盖章页码请填写 1–{pages}", field="page")
    document_name = document_name_clean(document_name)
    subject = f"user={signer.pk} signing with certificate {certificate.serial_hex}"
    _face_check(
        user=signer,
        identity=identity,
        selfie=selfie,
        content_type=selfie_content_type,
        ip=ip,
        subject=subject,
    )
    credentials = _credentials(certificate)
    seal_png = _seal_png(certificate)

    with transaction.atomic():
        locked = EnterpriseCertificate.objects.select_for_update().get(pk=certificate.pk)
        refusal = signing_refusal(locked, user=signer)
        if refusal:
            raise SigningRefused(refusal)
        try:
            signed = signing.pdf_sign(
                pdf=document,
                credentials=credentials,
                seal_png=seal_png,
                page=page,
                position=position,
                signer_name=locked.enterprise_name,
            )
        except PdfUnsignable as exc:
            raise SigningRefused(exc.message, field=exc.field) from exc
        record = SigningRecord.objects.create(
            certificate=locked,
            signer=signer,
            document_name=document_name,
            document_sha256=hashlib.sha256(document).hexdigest(),
            signed_sha256=hashlib.sha256(signed).hexdigest(),
            page=page,
        )
    logger.info(
        "document signed: record=%s certificate=%s user=%s page=%s sha256=%s",
        record.pk,
        locked.serial_hex,
        signer.pk,
        page,
        record.document_sha256,
    )
    return SignedDocument(
        record=record, content=signed, download_name=signed_download_name(document_name)
    )


# ---- Verification -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainLink:
    label: str  # 企业证书 / 签发CA / 根证书
    name: str


@dataclass(frozen=True)
class CheckedSignature:
    """One signature with what our records say about it."""

    finding: SignatureFinding
    ca_name: str  # the CA institution, when the chain ends at one of ours
    status: str  # "valid" / "revoked" / "expired" / "superseded" / "unknown": the certificate now
    status_label: str
    revoked_at: dt.datetime | None
    chain: tuple[ChainLink, ...]
    logged_at: dt.datetime | None  # when our signing log has this signature
    note: str  # a caution about the certificate's status, "" when there is none

    @property
    def verdict(self) -> Verdict:
        return self.finding.verdict


@dataclass(frozen=True)
class Verification:
    verdict: Verdict
    signatures: tuple[CheckedSignature, ...] = ()

    @property
    def verdict_label(self) -> str:
        return self.verdict.label


ROLE_LABELS = {CACertificate.Role.ROOT: "根证书", CACertificate.Role.ISSUING: "签发CA"}


def _status_now(
    certificate: EnterpriseCertificate | None, now: dt.datetime
) -> tuple[str, str, dt.datetime | None]:
    if certificate is None:
        return "unknown", "未在本平台登记", None
    status = certificate.status
    if status == EnterpriseCertificate.Status.REVOKED:
        return status, "已注销", certificate.revoked_at
    if status == EnterpriseCertificate.Status.EXPIRED or (
        status == EnterpriseCertificate.Status.VALID
        and certificate.not_after is not None
        and certificate.not_after <= now
    ):
        return EnterpriseCertificate.Status.EXPIRED, "已过期", None
    return status, certificate.get_status_display(), None


def _revocation_note(revoked_at: dt.datetime | None, logged_at: dt.datetime | None) -> str:
    if revoked_at is None:
        return ""
    if logged_at is not None and logged_at < revoked_at:
        return "签署时证书有效：本平台签署记录早于证书注销时间"
    return "证书已注销，且无法确认签署发生在注销之前，请谨慎采信"


def document_verify(*, pdf: bytes, ip: str, now: dt.datetime | None = None) -> Verification:
    """验证签章: every signature in the PDF, judged against all of our CA roots, with each
    certificate's status now and our signing log. Rate limited per IP (raises RateLimited).

    Three queries whatever the document: the CA certificates, the enterprise certificates by
    serial, the signing log by hash. Nothing of the upload is kept.
    """
    ratelimit.hit(VERIFY_SCOPE, f"verify:{ip}")
    now = now or timezone.now()
    cas = list(CACertificate.objects.select_related("ca"))
    parsed = {
        c.sha256_fingerprint: x509.load_pem_x509_certificate(c.certificate_pem.encode())
        for c in cas
    }
    result = signing.pdf_verify(
        pdf,
        roots=[parsed[c.sha256_fingerprint] for c in cas if c.role == CACertificate.Role.ROOT],
        intermediates=[
            parsed[c.sha256_fingerprint] for c in cas if c.role == CACertificate.Role.ISSUING
        ],
        now=now,
    )
    if not result.signatures:
        return Verification(verdict=result.verdict)

    findings = result.signatures
    ours = {
        c.sha256_fingerprint: c
        for c in EnterpriseCertificate.objects.filter(
            serial_hex__in={f.serial_hex for f in findings if f.serial_hex}
        )
    }
    logged = dict(
        SigningRecord.objects.filter(
            signed_sha256__in={f.revision_sha256 for f in findings if f.revision_sha256}
        )
        .order_by("signed_at")
        .values_list("signed_sha256", "signed_at")
    )
    ca_by_fingerprint = {c.sha256_fingerprint: c for c in cas}
    checked = []
    for finding in findings:
        # Ours only when the very certificate is (a foreign one may reuse a serial).
        certificate = ours.get(finding.fingerprint) if finding.trusted else None
        status, status_label, revoked_at = _status_now(certificate, now)
        logged_at = logged.get(finding.revision_sha256)
        chain = []
        ca_name = ""
        for position, fingerprint in enumerate(finding.chain_fingerprints):
            ca_cert = ca_by_fingerprint.get(fingerprint)
            if position == 0:
                chain.append(ChainLink(label="企业证书", name=finding.enterprise_name))
            elif ca_cert is not None:
                chain.append(ChainLink(label=ROLE_LABELS[ca_cert.role], name=ca_cert.ca.name))
                ca_name = ca_cert.ca.name
        checked.append(
            CheckedSignature(
                finding=finding,
                ca_name=ca_name,
                status=status,
                status_label=status_label,
                revoked_at=revoked_at,
                chain=tuple(chain),
                logged_at=logged_at,
                note=_revocation_note(revoked_at, logged_at),
            )
        )
    return Verification(verdict=result.verdict, signatures=tuple(checked))
