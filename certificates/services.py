from cryptography.hazmat.primitives import hashes, serialization
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .authority import IssuedCA, build_issuing, build_root
from .keys import key_backend
from .models import CACertificate, CAInstitution


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
    return f"{settings.YQ_PUBLIC_BASE_URL}/crl/{ca.code}-{role}.crl"


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
