from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.db.models import QuerySet

from .keys import key_backend
from .models import AgreementVersion, CACertificate, CAInstitution, Package


def ca_list_active() -> QuerySet[CAInstitution]:
    return CAInstitution.objects.filter(is_active=True)


def package_list_active(*, ca: CAInstitution) -> QuerySet[Package]:
    return Package.objects.filter(ca=ca, is_active=True)


def agreement_current(*, ca: CAInstitution) -> AgreementVersion | None:
    return AgreementVersion.objects.filter(ca=ca).order_by("-version").first()


def ca_certificate_get(*, ca: CAInstitution, role: str) -> CACertificate:
    return CACertificate.objects.get(ca=ca, role=role)


def ca_certificate_load(cert: CACertificate) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert.certificate_pem.encode())


def ca_private_key_load(cert: CACertificate) -> PrivateKeyTypes:
    return key_backend().unwrap(
        cert.encrypted_private_key, context=bytes.fromhex(cert.sha256_fingerprint)
    )
