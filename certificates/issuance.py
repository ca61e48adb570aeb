"""Building an enterprise's signing certificate under a CA's issuing CA.

Pure `cryptography`, no database: the issuance task loads the issuing CA and its key, reserves a
serial with `new_serial_number()` (stored before signing, so a retried task cannot issue two
certificates under two serials), calls `build_enterprise_certificate`, and stores the result.

The enterprise key is EC P-256, not RSA: RSA-2048 key generation costs ~50 ms and would cap
issuance (see BASELINES.md); P-256 costs a fraction of a millisecond.
"""

import datetime as dt
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

# Shared with the CA hierarchy so that every certificate the platform makes counts years the same
# way (29 February + n years falls back to 28 February).
from .authority import _years_after, crl_distribution_points

# RFC 5280 4.1.2.2: a serial is at most 20 octets and positive, so below 2**159.
SERIAL_MAX = 2**159
SERIAL_MIN_BITS = 64
# X.520 upper bound of commonName and organizationName, in characters.
UB_NAME = 64


@dataclass(frozen=True)
class IssuedEnterpriseCertificate:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


def new_serial_number() -> int:
    """A random positive serial below 2**159 with well over 64 bits of entropy.

    `x509.random_serial_number()` draws 159 random bits; a draw shorter than 64 bits (odds about
    2**-95) is thrown away so that every serial is at least 64 bits long, as the CA/B Forum
    rules ask of CAs.
    """
    while True:
        serial = x509.random_serial_number()
        if serial.bit_length() >= SERIAL_MIN_BITS:
            return serial


def enterprise_subject(
    *, enterprise_name: str, credit_code: str, province: str, city: str
) -> x509.Name:
    if not 0 < len(enterprise_name) <= UB_NAME:
        raise ValueError(f"enterprise_name must be 1 to {UB_NAME} characters")
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province),
            x509.NameAttribute(NameOID.LOCALITY_NAME, city),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, enterprise_name),
            # organizationIdentifier (X.520, 2.5.4.97) is the attribute meant for an
            # organisation's registration number; pkilint's PKIX lints accept it.
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, credit_code),
            _common_name(enterprise_name),
        ]
    )


def _common_name(value: str) -> x509.NameAttribute:
    # cryptography bounds commonName at 64 UTF-8 *bytes*, but X.520's ub-common-name is 64
    # *characters*: a Chinese name of 22 or more characters (three bytes each) is within the
    # standard yet refused. `_validate=False` turns that refusal into a warning, silenced here;
    # enterprise_subject enforces the bound in characters. (Reading such a certificate's subject
    # back still makes cryptography emit that UserWarning; pkilint and OpenSSL accept the name.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)


def build_enterprise_certificate(
    *,
    issuing_cert: x509.Certificate,
    issuing_key: ec.EllipticCurvePrivateKey,
    enterprise_name: str,
    credit_code: str,
    province: str,
    city: str,
    years: int,
    serial_number: int,
    not_before: dt.datetime,
    crl_url: str,
    ocsp_url: str | None = None,
) -> IssuedEnterpriseCertificate:
    """Generate the enterprise's key and its signing certificate, signed by the issuing CA."""
    if not_before.tzinfo is None:
        raise ValueError("not_before must be timezone-aware")
    if years < 1:
        raise ValueError("years must be at least 1")
    if not 0 < serial_number < SERIAL_MAX:
        raise ValueError("serial_number must be positive and below 2**159")
    # X.509 times carry whole seconds; dropping the fraction here keeps the certificate's dates
    # equal to the ones the caller computes from the same start.
    not_before = not_before.astimezone(dt.UTC).replace(microsecond=0)
    key = ec.generate_private_key(ec.SECP256R1())
    issuing_ski = issuing_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    builder = (
        x509.CertificateBuilder()
        .subject_name(
            enterprise_subject(
                enterprise_name=enterprise_name,
                credit_code=credit_code,
                province=province,
                city=city,
            )
        )
        .issuer_name(issuing_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(_years_after(not_before, years))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuing_ski.value),
            critical=False,
        )
        .add_extension(crl_distribution_points(crl_url), critical=False)
    )
    if ocsp_url:
        builder = builder.add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
                    )
                ]
            ),
            critical=False,
        )
    cert = builder.sign(issuing_key, hashes.SHA256())
    return IssuedEnterpriseCertificate(certificate=cert, private_key=key)


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint as lower-case hex, as CACertificate stores it."""
    return cert.fingerprint(hashes.SHA256()).hex()
