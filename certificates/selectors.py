from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.db.models import QuerySet

from .keys import key_backend
from .models import AgreementVersion, CACertificate, CAInstitution, EnterpriseCertificate


def agreement_current(*, ca: CAInstitution) -> AgreementVersion | None:
    """The CA's newest agreement version: the one applicants are shown and accept."""
    return AgreementVersion.objects.filter(ca=ca).order_by("-version").first()


def ca_private_key_load(cert: CACertificate) -> PrivateKeyTypes:
    return key_backend().unwrap(
        cert.encrypted_private_key, context=bytes.fromhex(cert.sha256_fingerprint)
    )


def certificate_list_for_holder(*, user) -> QuerySet[EnterpriseCertificate]:
    """The enterprise certificates the user administers, issued ones only, newest first."""
    return (
        EnterpriseCertificate.objects.filter(holder=user)
        .exclude(status=EnterpriseCertificate.Status.PENDING)
        .select_related("ca", "order")
    )
