from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.identity import validate_chinese_name
from accounts.validators import phone_validator

from .authority import IssuedCA, build_issuing, build_root
from .issuance import build_enterprise_certificate, new_serial_number
from .keys import key_backend
from .models import (
    CACertificate,
    CAInstitution,
    EmployeeAuthorization,
    EnterpriseCertificate,
    SeatGrant,
)
from .regions import city_for, province_for
from .renewal import renewal_complete
from .seals import draw_legal_rep_seal, draw_official_seal
from .selectors import ca_private_key_load, seats_total, seats_used

if TYPE_CHECKING:
    from accounts.models import User
    from orders.models import Order


def _store(*, ca: CAInstitution, role: str, issued: IssuedCA) -> CACertificate:
    cert = issued.certificate
    fingerprint = cert.fingerprint(hashes.SHA256())
    return CACertificate.objects.create(
        ca=ca,
        role=role,
        subject=cert.subject.rfc4514_string(),
        serial_hex=format(cert.serial_number, "x"),
        sha256_fingerprint=fingerprint.hex(),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
        encrypted_private_key=key_backend().wrap(issued.private_key, context=fingerprint),
    )


def ca_crl_url(*, ca: CAInstitution, role: str) -> str:
    """Where the CRL signed by this CA certificate is published."""
    return f"{settings.YQ_PKI_BASE_URL}/crl/{ca.code}-{role}.crl"


def ca_ocsp_url(*, ca: CAInstitution) -> str:
    """The CA's OCSP responder (certificates.revocation_views)."""
    return f"{settings.YQ_PKI_BASE_URL}/ocsp/{ca.code}/"


@transaction.atomic
def ca_hierarchy_create(*, ca: CAInstitution) -> tuple[CACertificate, CACertificate]:
    """Generate the CA's root and issuing CA (once; the unique constraint guards a rerun)."""
    now = timezone.now()
    root = build_root(organization=ca.name, now=now)
    issuing = build_issuing(
        organization=ca.name,
        root=root,
        now=now,
        crl_url=ca_crl_url(ca=ca, role=CACertificate.Role.ROOT),
    )
    return (
        _store(ca=ca, role=CACertificate.Role.ROOT, issued=root),
        _store(ca=ca, role=CACertificate.Role.ISSUING, issued=issuing),
    )


def ca_chain_pem(*, ca: CAInstitution) -> str:
    """The issuing CA then the root, as PEM, for clients that build the chain."""
    certs = {c.role: c for c in ca.certificates.all()}
    return (
        certs[CACertificate.Role.ISSUING].certificate_pem
        + certs[CACertificate.Role.ROOT].certificate_pem
    )


# ---- Issuing enterprise certificates (三) -------------------------------------------------------

logger = logging.getLogger(__name__)


class IssuingKeyMismatch(Exception):
    """The issuing CA's stored certificate or private key is not what its row says it is: the
    certificate does not have the stored fingerprint, or the key is not the certificate's."""


@dataclass(frozen=True)
class _Issuer:
    """A CA's issuing certificate as issuance uses it: parsed, with its private key unwrapped."""

    pk: int
    fingerprint: str
    certificate: x509.Certificate
    key: PrivateKeyTypes = field(repr=False)
    crl_url: str
    ocsp_url: str


# CA id → its issuing CA, kept for the life of the process (a worker issues thousands of
# certificates with one key). In process memory only: never pickled, cached elsewhere or logged;
# the key stays encrypted at rest. Every issuance reads the issuing row's id and fingerprint and
# loads afresh when either changed, so a replaced issuing CA is never signed with.
_issuers: dict[int, _Issuer] = {}


def _issuer_for(*, ca_id: int) -> _Issuer:
    """The CA's issuing certificate and key: one small query, and the cache while it holds."""
    pk, fingerprint = (
        CACertificate.objects.filter(ca_id=ca_id, role=CACertificate.Role.ISSUING)
        .values_list("pk", "sha256_fingerprint")
        .get()
    )
    cached = _issuers.get(ca_id)
    if cached is not None and (cached.pk, cached.fingerprint) == (pk, fingerprint):
        return cached
    row = CACertificate.objects.select_related("ca").get(pk=pk)
    certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode())
    if certificate.fingerprint(hashes.SHA256()).hex() != row.sha256_fingerprint:
        raise IssuingKeyMismatch(f"{row.ca.code}: the issuing certificate is not the one stored")
    key = ca_private_key_load(row)
    if key.public_key() != certificate.public_key():
        raise IssuingKeyMismatch(f"{row.ca.code}: the stored key is not the issuing CA's key")
    issuer = _Issuer(
        pk=row.pk,
        fingerprint=row.sha256_fingerprint,
        certificate=certificate,
        key=key,
        crl_url=ca_crl_url(ca=row.ca, role=CACertificate.Role.ISSUING),
        ocsp_url=ca_ocsp_url(ca=row.ca),
    )
    _issuers[ca_id] = issuer
    return issuer


def _reserve(order: Order) -> EnterpriseCertificate:
    """The order's certificate row, created and committed with its random serial before anything
    is signed, so every certificate the CA signs has a record even if the worker dies mid-way.

    A retried task finds the row (the order is unique on it) and signs with the same serial.
    """
    existing = getattr(order, "certificate", None)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return EnterpriseCertificate.objects.create(
                order=order,
                ca_id=order.ca_id,
                holder_id=order.applicant_id,
                status=EnterpriseCertificate.Status.PENDING,
                enterprise_name=order.enterprise_name,
                credit_code=order.credit_code,
                legal_rep_name=order.legal_rep_name,
                serial_hex=format(new_serial_number(), "x"),
            )
    except IntegrityError:
        # Another worker reserved it first (same order), or the enterprise already holds a
        # certificate: the first case is re-read, the second is a real conflict.
        existing = EnterpriseCertificate.objects.filter(order=order).first()
        if existing is None:
            raise
        return existing


@dataclass(frozen=True)
class _Signed:
    """What issuance made outside any transaction, ready to be stored."""

    certificate: x509.Certificate
    fingerprint: bytes
    encrypted_private_key: bytes
    official_seal: ContentFile
    legal_rep_seal: ContentFile


def _sign(*, order: Order, serial_hex: str) -> _Signed:
    """The heavy part: the enterprise key and certificate, both seals. No database writes."""
    issuer = _issuer_for(ca_id=order.ca_id)
    province = province_for(order.credit_code)
    issued = build_enterprise_certificate(
        issuing_cert=issuer.certificate,
        issuing_key=issuer.key,
        enterprise_name=order.enterprise_name,
        credit_code=order.credit_code,
        province=province,
        city=city_for(order.enterprise_address, province),
        years=order.years,
        serial_number=int(serial_hex, 16),
        not_before=timezone.now(),
        crl_url=issuer.crl_url,
        ocsp_url=issuer.ocsp_url,
    )
    fingerprint = issued.certificate.fingerprint(hashes.SHA256())
    return _Signed(
        certificate=issued.certificate,
        fingerprint=fingerprint,
        encrypted_private_key=key_backend().wrap(issued.private_key, context=fingerprint),
        official_seal=ContentFile(draw_official_seal(order.enterprise_name), name="official.png"),
        legal_rep_seal=ContentFile(draw_legal_rep_seal(order.legal_rep_name), name="legal-rep.png"),
    )


def _store_signed(
    *, order: Order, cert: EnterpriseCertificate, signed: _Signed
) -> EnterpriseCertificate:
    """PENDING → VALID with what `_sign` made, under the row lock, unless another run did it
    first (then its certificate is returned and `signed` is dropped). Inside the caller's
    transaction."""
    locked = EnterpriseCertificate.objects.select_for_update().get(pk=cert.pk)
    if locked.status != EnterpriseCertificate.Status.PENDING:
        return locked
    locked.certificate_pem = signed.certificate.public_bytes(serialization.Encoding.PEM).decode()
    locked.sha256_fingerprint = signed.fingerprint.hex()
    locked.encrypted_private_key = signed.encrypted_private_key
    locked.not_before = signed.certificate.not_valid_before_utc
    locked.not_after = signed.certificate.not_valid_after_utc
    locked.official_seal.save(signed.official_seal.name, signed.official_seal, save=False)
    locked.legal_rep_seal.save(signed.legal_rep_seal.name, signed.legal_rep_seal, save=False)
    if order.renewal_of_id is not None:
        # A renewal supersedes the old certificate first (one valid per enterprise).
        renewal_complete(new_certificate=locked)
    locked.status = EnterpriseCertificate.Status.VALID
    locked.issued_at = timezone.now()
    locked.save(
        update_fields=[
            "certificate_pem",
            "sha256_fingerprint",
            "encrypted_private_key",
            "not_before",
            "not_after",
            "official_seal",
            "legal_rep_seal",
            "status",
            "issued_at",
        ]
    )
    if order.extra_seats:
        # Seats bought with the certificate last as long as it does. Once per order: a grant
        # already there (the order is unique on it) is left as it is.
        SeatGrant.objects.bulk_create(
            [
                SeatGrant(
                    order=order,
                    credit_code=order.credit_code,
                    seats=order.extra_seats,
                    starts_at=locked.not_before,
                    expires_at=locked.not_after,
                )
            ],
            ignore_conflicts=True,
        )
    return locked


def certificate_issue_for_order(*, order_id: int) -> EnterpriseCertificate | None:
    """(三) Issue the paid order's certificate and seals, then mark the order 已完成. Idempotent.

    Two commits: the serial is reserved first (`_reserve`); the heavy work (key generation,
    signing, seals) happens outside any transaction; then one transaction makes the certificate
    VALID and the order 已完成 together — the guarded moves PENDING → VALID and 签发中 → 已完成,
    the order event last, so the audit chain lock (orders.audit) is held only for that insert
    and the commit.
    """
    from orders.models import Order
    from orders.services import TransitionConflict, order_transition
    from orders.states import OrderStatus

    # The certificate comes along: a retry (or a second task) finds the one it reserved.
    order = Order.objects.select_related("certificate").get(pk=order_id)
    if order.status != OrderStatus.ISSUING:
        return getattr(order, "certificate", None)
    cert = _reserve(order)
    signed = None
    if cert.status == EnterpriseCertificate.Status.PENDING:
        signed = _sign(order=order, serial_hex=cert.serial_hex)
    # Read now, outside the transaction: the SMS needs nothing from the database after commit.
    phone = order.applicant_phone or order.applicant.phone
    with transaction.atomic():
        if signed is not None:
            cert = _store_signed(order=order, cert=cert, signed=signed)
        try:
            order_transition(
                order=order,
                to=OrderStatus.COMPLETED,
                actor_label="系统",
                reason=f"证书已签发，序列号 {cert.serial_hex}",
            )
        except TransitionConflict:
            logger.info("order %s was already completed", order.number)
        else:
            # Each side effect is queued on its own: a broker hiccup on one loses neither the
            # completed order nor the other (the invoice sweep also catches a lost invoice).
            transaction.on_commit(partial(_invoice_queue, order.pk), robust=True)
            transaction.on_commit(partial(_issued_sms_queue, phone=phone, order=order), robust=True)
    return cert


def _invoice_queue(order_id: int) -> None:
    from invoices.tasks import invoice_render

    invoice_render.delay(order_id=order_id)


def _issued_sms_queue(*, phone: str, order: Order) -> None:
    from accounts.tasks import sms_notice_deliver

    sms_notice_deliver.delay(
        phone=phone,
        text=f"【粤企签】{order.enterprise_name}的数字证书已签发（订单 {order.number}），"
        "可在粤企签查看和下载。",
    )


# ---- 员工授权: employees on the enterprise certificate -------------------------------------------

SEATS_FULL_MESSAGE = "授权数量已用完，请先【新增授权数量】"


class EmployeeError(Exception):
    """A rule of 员工授权 refused the request. `message` is shown on the page, next to `field`
    (姓名 "name", 手机号 "phone") when it is about one of them."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _certificate_for_update(certificate: EnterpriseCertificate) -> EnterpriseCertificate:
    """The certificate's row, locked for this transaction.

    Seats belong to the enterprise, and the enterprise has one valid certificate: whoever holds
    this lock is the only one counting (and taking) its seats, so two additions at once can
    never both take the last seat.
    """
    return (
        EnterpriseCertificate.objects.select_for_update(of=("self",))
        .select_related("holder")
        .get(pk=certificate.pk)
    )


@transaction.atomic
def employee_add(
    *, certificate: EnterpriseCertificate, actor: User, name: str, phone: str
) -> EmployeeAuthorization:
    """【添加用户】: authorize an employee (by phone) to use the certificate, on a free seat.

    Checks everything itself, whatever the caller checked: only the holder, only a valid
    certificate, a real name and mobile number, not the holder's own number, not twice, and
    never more employees than seats — counted inside the row lock.
    """
    locked = _certificate_for_update(certificate)
    if locked.holder_id != actor.pk:
        raise EmployeeError("只有证书管理员可以添加用户")
    now = timezone.now()
    if locked.status != EnterpriseCertificate.Status.VALID or (
        locked.not_after is not None and locked.not_after <= now
    ):
        raise EmployeeError("证书已过期或已注销，不能添加用户")
    try:
        name = validate_chinese_name(name)
    except ValidationError as exc:
        raise EmployeeError(exc.messages[0], field="name") from exc
    phone = (phone or "").strip()
    try:
        phone_validator(phone)
    except ValidationError as exc:
        raise EmployeeError(exc.messages[0], field="phone") from exc
    if phone == locked.holder.phone:
        raise EmployeeError("这是管理员本人的手机号，管理员已占用一个授权，无需添加", field="phone")
    active = locked.employees.filter(removed_at__isnull=True)
    if active.filter(phone=phone).exists():
        raise EmployeeError("该手机号已授权，无需重复添加", field="phone")
    if seats_used(locked) >= seats_total(locked, at=now):
        raise EmployeeError(SEATS_FULL_MESSAGE)
    try:
        with transaction.atomic():
            employee = EmployeeAuthorization.objects.create(
                certificate=locked, name=name, phone=phone, added_by=actor
            )
    except IntegrityError as exc:
        # one_active_authorization_per_phone: the lock makes this unreachable for additions
        # through here; the index is the last word all the same.
        raise EmployeeError("该手机号已授权，无需重复添加", field="phone") from exc
    logger.info(
        "employee %s added to certificate %s by user %s", employee.pk, locked.serial_hex, actor.pk
    )
    return employee


@transaction.atomic
def employee_remove(*, employee: EmployeeAuthorization, actor: User) -> EmployeeAuthorization:
    """Remove an authorized employee: their access ends now and the seat is free again.

    Removing someone already removed changes nothing (a second tap on 确认移除).
    """
    locked = _certificate_for_update(employee.certificate)
    if locked.holder_id != actor.pk or employee.certificate_id != locked.pk:
        raise EmployeeError("只有证书管理员可以移除用户")
    # Guarded: of two removals at once, one sets the time and the other leaves it.
    removed = EmployeeAuthorization.objects.filter(
        pk=employee.pk, certificate=locked, removed_at__isnull=True
    ).update(removed_at=timezone.now())
    if removed:
        logger.info(
            "employee %s removed from certificate %s by user %s",
            employee.pk,
            locked.serial_hex,
            actor.pk,
        )
    employee.refresh_from_db(fields=["removed_at"])
    return employee
