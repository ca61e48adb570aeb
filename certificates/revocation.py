"""挂失 / 注销 (revocation), the CRLs and the OCSP responder.

- `certificate_revoke`: the certificate's administrator (with a fresh face check) or staff (any
  certificate for 运营 and 客服, their own CA's for a CA审核员) revoke a valid certificate, with
  an RFC 5280 reason. The issuing CA's CRL is signed again as soon as the revocation commits.
- CRLs: one per CA certificate. The issuing CA's lists the enterprise certificates it revoked
  (挂失, 注销, and those superseded by a renewal); the root's lists the CA certificates it
  revoked — none, as a CA certificate is never revoked here — and is served where the issuing
  CA's CRL distribution point says. Each lives one day; the `crls_refresh` beat task signs the
  next one well before that, and a request that finds none (or an overdue one) signs it then.
- OCSP (RFC 6960): each CA's issuing CA answers for the certificates it issued, signing the
  responses itself (its certificate has digitalSignature; no delegated responder).

The builders at the end are pure `cryptography` and take no database rows.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509 import ocsp
from django.db import transaction
from django.utils import timezone

from .models import CACertificate, CertificateRevocationList, EnterpriseCertificate
from .selectors import ca_private_key_load

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

Status = EnterpriseCertificate.Status
Reason = EnterpriseCertificate.RevocationReason

# What the administrator may choose on the certificate page, and what staff may choose in the
# admin. 已续期 (superseded) is never chosen: renewal sets it (certificates.renewal).
HOLDER_REASONS = (Reason.KEY_COMPROMISE, Reason.CESSATION)
STAFF_REASONS = (Reason.KEY_COMPROMISE, Reason.CESSATION, Reason.AFFILIATION_CHANGED)
# Certificates that are no longer valid because the CA said so: on the CRL, REVOKED over OCSP.
REVOKED_STATUSES = (Status.REVOKED, Status.SUPERSEDED)

X509_REASONS: dict[str, x509.ReasonFlags] = {
    Reason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    Reason.CESSATION: x509.ReasonFlags.cessation_of_operation,
    Reason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    Reason.SUPERSEDED: x509.ReasonFlags.superseded,
}

# A CRL is good for a day. The beat task runs every 6 hours and signs a new one once less than
# 12 hours are left, so a CRL in caches is never close to its nextUpdate.
CRL_VALIDITY = dt.timedelta(days=1)
CRL_REFRESH_MARGIN = dt.timedelta(hours=12)
OCSP_VALIDITY = dt.timedelta(hours=1)
# An OCSP request for one certificate is ~100 bytes; with a signature and its certificates a
# few KB. Anything longer is not a request we answer.
OCSP_MAX_REQUEST_BYTES = 10 * 1024
# RFC 8954: a nonce is 1 to 32 octets; a longer one is refused as malformed.
OCSP_NONCE_MAX_BYTES = 32


# ---- 挂失 / 注销 -------------------------------------------------------------------------------


class RevocationError(Exception):
    """The revocation was refused; `message` is shown as it is, next to `field` when it is about
    one of the form's fields ("reason", "selfie")."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class RevocationNotAllowed(RevocationError):
    """This user may not revoke this certificate (not its administrator, not staff of its CA)."""


@dataclass(frozen=True)
class FaceCheckPhoto:
    """The administrator's selfie for the fresh face check a revocation needs, as the identity
    form validated it (decoded, type from the content). Never stored."""

    selfie: bytes = field(repr=False)
    content_type: str
    ip: str


def staff_may_revoke(actor: User, certificate: EnterpriseCertificate) -> bool:
    """运营 and 客服 may revoke any certificate; a CA审核员 their own CA's (the admin's scope)."""
    from authorization.review import staff_role

    role = staff_role(actor)
    if role in ("operator", "support"):
        return True
    return role == "ca_reviewer" and actor.ca_institution_id == certificate.ca_id


def _holder_face_check(
    *, certificate: EnterpriseCertificate, actor: User, face_check: FaceCheckPhoto | None
) -> None:
    """The administrator proves it is them, now: their verified identity (实名认证) and a new
    selfie, through the same provider and limits as 实名认证. Raises RevocationError."""
    from accounts.faceauth import face_provider
    from accounts.selectors import identity_for
    from accounts.services import IdentityCheckFailed, face_check_run
    from yueqiqian import ratelimit

    if face_check is None:
        raise RevocationError("请拍摄人脸照片，完成人脸识别核验", field="selfie")
    identity = identity_for(actor)
    if identity is None:
        raise RevocationError("请先完成实名认证")
    # Counted before the provider is asked, whatever it answers (raises RateLimited).
    ratelimit.hit("face_check_user", str(actor.pk))
    ratelimit.hit("face_check_ip", face_check.ip)
    try:
        face_check_run(
            provider=face_provider(),
            real_name=identity.real_name,
            id_number=identity.id_number,
            selfie=face_check.selfie,
            content_type=face_check.content_type,
            subject=f"user={actor.pk} revoke={certificate.serial_hex}",
        )
    except IdentityCheckFailed as exc:
        raise RevocationError(exc.message, field="selfie") from None


def certificate_revoke(
    *,
    certificate: EnterpriseCertificate,
    actor: User,
    reason: str,
    face_check: FaceCheckPhoto | None,
) -> EnterpriseCertificate:
    """挂失 or 注销 a valid certificate, once.

    The administrator (holder) chooses 挂失 or 注销 and passes a fresh face check; staff choose
    any staff reason and need none. Checks everything itself, whatever the caller checked.
    The move 有效 → 已注销 is a guarded update, so of two revocations at once one wins and the
    other is told the certificate is already revoked. Once committed, the issuing CA's CRL is
    signed again (a failure there is logged; the beat task catches up).

    Raises RevocationNotAllowed, RevocationError (reason, face check, not valid) and
    yueqiqian.ratelimit.RateLimited (too many face checks).
    """
    is_holder = actor.pk == certificate.holder_id
    if not is_holder and not staff_may_revoke(actor, certificate):
        raise RevocationNotAllowed("只有证书管理员或该证书机构的工作人员可以注销证书")
    allowed = HOLDER_REASONS if is_holder else STAFF_REASONS
    if reason not in allowed:
        raise RevocationError("请选择注销原因", field="reason")
    if certificate.status != Status.VALID:
        # Before the face check: a photo is not worth taking for nothing.
        raise RevocationError(f"证书当前状态为「{certificate.get_status_display()}」，不能注销")
    if is_holder:
        _holder_face_check(certificate=certificate, actor=actor, face_check=face_check)
    now = timezone.now().replace(microsecond=0)  # X.509 times are whole seconds
    with transaction.atomic():
        revoked = EnterpriseCertificate.objects.filter(
            pk=certificate.pk, status=Status.VALID
        ).update(status=Status.REVOKED, revoked_at=now, revocation_reason=reason, revoked_by=actor)
        if not revoked:
            raise RevocationError("证书已注销或已失效，无需重复操作")
        transaction.on_commit(partial(crl_after_revocation, certificate.ca_id), robust=True)
    logger.info(
        "certificate %s revoked by user %s (%s, %s)",
        certificate.serial_hex,
        actor.pk,
        "holder" if is_holder else "staff",
        reason,
    )
    certificate.refresh_from_db(fields=["status", "revoked_at", "revocation_reason", "revoked_by"])
    return certificate


def crl_after_revocation(ca_id: int) -> None:
    """On commit of a revocation (or a renewal's supersession): the CA's issuing CA signs a new
    CRL, so relying parties that fetch it now see the certificate revoked."""
    issuer = CACertificate.objects.filter(ca_id=ca_id, role=CACertificate.Role.ISSUING).first()
    if issuer is not None:
        crl_generate(issuer=issuer)


# ---- CRLs ---------------------------------------------------------------------------------------


def _revoked_entries(issuer: CACertificate) -> list[RevokedEntry]:
    """What the CA certificate's CRL lists. Entries stay after the certificate expires: a
    signature made with a revoked certificate must still be seen as such later, and the list
    stays short."""
    if issuer.role != CACertificate.Role.ISSUING:
        return []  # CA certificates are never revoked here: the root's CRL is empty
    rows = (
        EnterpriseCertificate.objects.filter(
            ca_id=issuer.ca_id, status__in=REVOKED_STATUSES, revoked_at__isnull=False
        )
        .exclude(certificate_pem="")
        .order_by("revoked_at", "pk")
        .values_list("serial_hex", "revoked_at", "revocation_reason")
    )
    return [
        RevokedEntry(serial_number=int(serial, 16), revoked_at=at, reason=X509_REASONS.get(reason))
        for serial, at, reason in rows
    ]


def _issuer_for_update(issuer: CACertificate) -> CACertificate:
    """The CA certificate's row, locked: CRLs of one issuer are signed one at a time, so their
    numbers only go up."""
    return (
        CACertificate.objects.select_for_update(of=("self",)).select_related("ca").get(pk=issuer.pk)
    )


def _crl_sign(issuer: CACertificate, *, now: dt.datetime) -> CertificateRevocationList:
    """Sign and store the issuer's next CRL. Call with the issuer's row locked."""
    last = issuer.crls.order_by("-number").values_list("number", flat=True).first() or 0
    this_update = now.replace(microsecond=0)
    number = last + 1
    der = build_crl(
        issuer_cert=x509.load_pem_x509_certificate(issuer.certificate_pem.encode()),
        issuer_key=ca_private_key_load(issuer),
        number=number,
        this_update=this_update,
        next_update=this_update + CRL_VALIDITY,
        revoked=_revoked_entries(issuer),
    )
    crl = CertificateRevocationList.objects.create(
        issuer=issuer,
        number=number,
        this_update=this_update,
        next_update=this_update + CRL_VALIDITY,
        der=der,
    )
    logger.info("CRL #%s signed by %s", number, issuer)
    return crl


@transaction.atomic
def crl_generate(*, issuer: CACertificate) -> CertificateRevocationList:
    """Sign a new CRL for the CA certificate now (after a revocation or a renewal)."""
    return _crl_sign(_issuer_for_update(issuer), now=timezone.now())


def _crl_is_stale(crl: CertificateRevocationList, issuer: CACertificate) -> bool:
    """The CRL lists fewer certificates than are revoked: a revocation committed but its CRL
    was never signed (the on-commit signing failed). Entries are never dropped, so the count
    says it."""
    listed = len(x509.load_der_x509_crl(bytes(crl.der)))
    return listed != len(_revoked_entries(issuer))


@transaction.atomic
def crl_refresh(
    *, issuer: CACertificate, due_before: dt.datetime, check_entries: bool = False
) -> CertificateRevocationList | None:
    """Sign a new CRL if the issuer has none, or its newest expires before `due_before` (or,
    with `check_entries`, misses a revocation). Decided under the issuer's lock, so two callers
    at once sign one. Returns the new CRL, or None when the newest is fine."""
    locked = _issuer_for_update(issuer)
    latest = locked.crls.order_by("-number").first()
    if (
        latest is not None
        and latest.next_update > due_before
        and not (check_entries and _crl_is_stale(latest, locked))
    ):
        return None
    return _crl_sign(locked, now=timezone.now())


def crl_current(*, ca_code: str, role: str) -> CertificateRevocationList | None:
    """The CRL to serve at `/crl/<ca_code>-<role>.crl`: the newest, signed now when there is
    none yet or the newest is past its nextUpdate. None for a CA or role we do not have."""
    issuer = CACertificate.objects.filter(ca__code=ca_code, role=role).first()
    if issuer is None:
        return None
    now = timezone.now()
    latest = issuer.crls.order_by("-number").first()
    if latest is None or latest.next_update <= now:
        crl_refresh(issuer=issuer, due_before=now)
        latest = issuer.crls.order_by("-number").first()
    return latest


def crls_refresh() -> int:
    """Beat: sign the next CRL of every CA certificate whose newest is due within
    CRL_REFRESH_MARGIN, missing, or missing a revocation. Returns how many were signed."""
    due_before = timezone.now() + CRL_REFRESH_MARGIN
    signed = 0
    for issuer in CACertificate.objects.order_by("pk"):
        try:
            if crl_refresh(issuer=issuer, due_before=due_before, check_entries=True):
                signed += 1
        except Exception:
            # One CA's trouble (a key that does not decrypt) must not keep the others' CRLs
            # from being signed.
            logger.exception("CRL refresh failed for %s", issuer)
    return signed


# ---- OCSP ---------------------------------------------------------------------------------------


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


@dataclass(frozen=True)
class OcspAnswer:
    der: bytes
    # Whether HTTP caches may keep it: a successful answer without a nonce (with one, it is
    # this client's alone).
    cacheable: bool


def ocsp_malformed() -> OcspAnswer:
    """The answer to something that is not an OCSP request at all."""
    return OcspAnswer(_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST), cacheable=False)


def ocsp_respond(*, ca_code: str, request_der: bytes) -> OcspAnswer:
    """The DER OCSPResponse to an OCSP request sent to this CA's responder.

    malformedRequest for anything that is not one single-certificate request we can read;
    unauthorized for a CA we do not have, or a certificate another issuer issued; otherwise a
    response signed by the CA's issuing CA: good, revoked (time and reason) or unknown (a
    serial it never issued), valid for OCSP_VALIDITY, the request's nonce echoed.
    """
    malformed = ocsp_malformed()
    if not request_der or len(request_der) > OCSP_MAX_REQUEST_BYTES:
        return malformed
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = request.hash_algorithm
        nonce = _nonce(request)
    except (ValueError, NotImplementedError, UnsupportedAlgorithm):
        # Undecodable, several certificates in one request (cryptography answers one), an
        # unknown CertID hash, or a nonce RFC 8954 says to refuse.
        return malformed
    unauthorized = OcspAnswer(_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED), cacheable=False)
    issuer = (
        CACertificate.objects.filter(ca__code=ca_code, role=CACertificate.Role.ISSUING)
        .select_related("ca")
        .first()
    )
    if issuer is None:
        return unauthorized
    issuer_cert = x509.load_pem_x509_certificate(issuer.certificate_pem.encode())
    name_hash, key_hash = issuer_hashes(issuer_cert, algorithm)
    if not (
        hmac.compare_digest(request.issuer_name_hash, name_hash)
        and hmac.compare_digest(request.issuer_key_hash, key_hash)
    ):
        return unauthorized
    status = _ocsp_status(issuer, request.serial_number)
    der = build_ocsp_response(
        issuer_cert=issuer_cert,
        issuer_key=ca_private_key_load(issuer),
        request=request,
        status=status,
        now=timezone.now(),
        nonce=nonce,
    )
    return OcspAnswer(der, cacheable=nonce is None)


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None
    if not 0 < len(nonce) <= OCSP_NONCE_MAX_BYTES:
        raise ValueError("OCSP nonce must be 1 to 32 octets")
    return nonce


@dataclass(frozen=True)
class CertificateStatus:
    """What the responder says about one serial."""

    status: ocsp.OCSPCertStatus
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None


def _ocsp_status(issuer: CACertificate, serial_number: int) -> CertificateStatus:
    row = (
        EnterpriseCertificate.objects.filter(
            ca_id=issuer.ca_id, serial_hex=format(serial_number, "x")
        )
        .exclude(certificate_pem="")  # reserved, never signed: not issued
        .values("status", "revoked_at", "revocation_reason")
        .first()
    )
    if row is None:
        return CertificateStatus(ocsp.OCSPCertStatus.UNKNOWN)
    if row["status"] in REVOKED_STATUSES and row["revoked_at"] is not None:
        return CertificateStatus(
            ocsp.OCSPCertStatus.REVOKED,
            revoked_at=row["revoked_at"],
            reason=X509_REASONS.get(row["revocation_reason"]),
        )
    # Valid, or expired but never revoked: OCSP speaks of revocation, not of validity dates.
    return CertificateStatus(ocsp.OCSPCertStatus.GOOD)


# ---- Builders (pure cryptography) ----------------------------------------------------------------


@dataclass(frozen=True)
class RevokedEntry:
    serial_number: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None


def _signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.HashAlgorithm | None:
    """The hash that goes with the key: SHA-384 for P-384 (the roots), SHA-256 otherwise, and
    none for Ed25519/Ed448, which hash by themselves."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def build_crl(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
    revoked: list[RevokedEntry],
) -> bytes:
    """A DER CRL (RFC 5280 5.1): issuer, thisUpdate/nextUpdate, the revoked serials with their
    dates and reason codes, the CRL number and the authority key identifier."""
    ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    for entry in revoked:
        revoked_cert = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(entry.revoked_at.replace(microsecond=0))
        )
        if entry.reason is not None:
            revoked_cert = revoked_cert.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(revoked_cert.build())
    crl = builder.sign(issuer_key, _signature_hash(issuer_key))
    return crl.public_bytes(serialization.Encoding.DER)


def _public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's contents, which an OCSP CertID's issuerKeyHash hashes."""
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    if isinstance(key, rsa.RSAPublicKey):
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def issuer_hashes(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of a CertID naming `cert` as the issuer (RFC 6960 4.1.1)."""

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    return digest(cert.subject.public_bytes()), digest(_public_key_bits(cert))


def build_ocsp_response(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    request: ocsp.OCSPRequest,
    status: CertificateStatus,
    now: dt.datetime,
    nonce: bytes | None,
) -> bytes:
    """A successful, DER BasicOCSPResponse for the request's one certificate, signed by the CA
    that issued it, responder named by key hash. The CertID is echoed as the client hashed it
    (SHA-1 or SHA-256…), so the client finds its answer."""
    this_update = now.replace(microsecond=0)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=status.status,
            this_update=this_update,
            next_update=this_update + OCSP_VALIDITY,
            revocation_time=(
                status.revoked_at.replace(microsecond=0) if status.revoked_at else None
            ),
            revocation_reason=status.reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert)
    )
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    response = builder.sign(issuer_key, _signature_hash(issuer_key))
    return response.public_bytes(serialization.Encoding.DER)
