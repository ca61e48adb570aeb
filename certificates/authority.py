"""Building a CA institution's own hierarchy: a self-signed root and an issuing CA under it.

Pure `cryptography`; no database. services.py stores the results.
"""

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT_YEARS = 20
ISSUING_YEARS = 10


@dataclass(frozen=True)
class IssuedCA:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def ca_name(*, organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "广东省"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "广州市"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def ca_key_usage(*, digital_signature: bool) -> x509.KeyUsage:
    """A CA signs certificates and CRLs; the issuing CA also signs OCSP responses itself."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def crl_distribution_points(url: str) -> x509.CRLDistributionPoints:
    """Where relying parties fetch the CRL that covers a certificate signed by this CA."""
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(url)],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _years_after(start: dt.datetime, years: int) -> dt.datetime:
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February
        return start.replace(year=start.year + years, day=28)


def build_root(*, organization: str, now: dt.datetime) -> IssuedCA:
    key = ec.generate_private_key(ec.SECP384R1())
    name = ca_name(organization=organization, common_name=f"{organization} 根CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(_years_after(now, ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(ca_key_usage(digital_signature=False), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA384())
    )
    return IssuedCA(certificate=cert, private_key=key)


def build_issuing(*, organization: str, root: IssuedCA, now: dt.datetime, crl_url: str) -> IssuedCA:
    key = ec.generate_private_key(ec.SECP256R1())
    root_ski = root.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name(organization=organization, common_name=f"{organization} 签发CA"))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(_years_after(now, ISSUING_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski.value),
            critical=False,
        )
        .add_extension(crl_distribution_points(crl_url), critical=False)
        .sign(root.private_key, hashes.SHA384())
    )
    return IssuedCA(certificate=cert, private_key=key)
