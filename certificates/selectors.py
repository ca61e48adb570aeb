from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.db.models import QuerySet, Sum
from django.utils import timezone

from .keys import key_backend
from .models import (
    AgreementVersion,
    CACertificate,
    CAInstitution,
    EnterpriseCertificate,
    SeatGrant,
)


def agreement_current(*, ca: CAInstitution) -> AgreementVersion | None:
    """The CA's newest agreement version: the one applicants are shown and accept."""
    return AgreementVersion.objects.filter(ca=ca).order_by("-version").first()


def ca_private_key_load(cert: CACertificate) -> PrivateKeyTypes:
    return key_backend().unwrap(
        cert.encrypted_private_key, context=bytes.fromhex(cert.sha256_fingerprint)
    )


def seat_grants_active(*, credit_code: str, at=None) -> QuerySet[SeatGrant]:
    """The enterprise's seat grants in force at `at` (now)."""
    at = at or timezone.now()
    return SeatGrant.objects.filter(credit_code=credit_code, starts_at__lte=at, expires_at__gt=at)


def seats_total(certificate: EnterpriseCertificate, *, at=None) -> int:
    """Seats on the certificate: the administrator's own, plus every grant in force."""
    extra = seat_grants_active(credit_code=certificate.credit_code, at=at).aggregate(
        total=Sum("seats")
    )["total"]
    return 1 + (extra or 0)


def seats_used(certificate: EnterpriseCertificate) -> int:
    """The administrator plus the employees authorized now."""
    return 1 + certificate.employees.filter(removed_at__isnull=True).count()
