"""An enterprise's signing certificate, built in memory under a freshly made CA hierarchy."""

import datetime as dt
import hashlib
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, SignatureAlgorithmOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from certificates.authority import IssuedCA, build_issuing, build_root
from certificates.issuance import (
    IssuedEnterpriseCertificate,
    build_enterprise_certificate,
    fingerprint_sha256,
    new_serial_number,
)

LINT = Path(__file__).resolve().parents[2] / ".venv" / "bin"
NOW = dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC)
CRL_URL = "https://yqq.example.cn/crl/ca1-issuing.crl"
ENTERPRISE = "广州市示例数字科技有限公司"
CREDIT_CODE = "91440101MA5CXXXX1X"


@pytest.fixture(scope="module")
def root() -> IssuedCA:
    return build_root(organization="测试认证机构（演示）", now=NOW - dt.timedelta(days=30))


@pytest.fixture(scope="module")
def issuing(root) -> IssuedCA:
    return build_issuing(
        organization="测试认证机构（演示）",
        root=root,
        now=NOW - dt.timedelta(days=30),
        crl_url="https://yqq.example.cn/crl/ca1-root.crl",
    )


@pytest.fixture
def issue(issuing):
    def issue(**overrides) -> IssuedEnterpriseCertificate:
        arguments = {
            "issuing_cert": issuing.certificate,
            "issuing_key": issuing.private_key,
            "enterprise_name": ENTERPRISE,
            "credit_code": CREDIT_CODE,
            "province": "广东省",
            "city": "广州市",
            "years": 3,
            "serial_number": new_serial_number(),
            "not_before": NOW,
            "crl_url": CRL_URL,
        } | overrides
        return build_enterprise_certificate(**arguments)

    return issue


@pytest.fixture
def leaf(issue) -> x509.Certificate:
    return issue().certificate


def verifier(root: x509.Certificate, *, at: dt.datetime):
    # The web-PKI end-entity defaults are for TLS: they demand a subjectAltName and an
    # extendedKeyUsage naming clientAuth, and reject this certificate for missing the SAN. A
    # document-signing certificate has neither, so the leaf gets its own extension policy (the
    # key usages it must carry), while the CA certificates keep the web-PKI CA defaults. The
    # chain building, signatures, validity and name chaining are the verifier's own.
    def signs_documents(_policy, _cert, usage: x509.KeyUsage) -> None:
        if not (usage.digital_signature and usage.content_commitment) or usage.key_cert_sign:
            raise ValueError("not a document-signing key usage")

    def not_a_ca(_policy, _cert, constraints: x509.BasicConstraints) -> None:
        if constraints.ca:
            raise ValueError("an end-entity certificate must not be a CA")

    ee_policy = (
        ExtensionPolicy.permit_all()
        .require_present(x509.KeyUsage, Criticality.CRITICAL, signs_documents)
        .require_present(x509.BasicConstraints, Criticality.CRITICAL, not_a_ca)
    )
    return (
        PolicyBuilder()
        .store(Store([root]))
        .time(at)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )


def pem(cert: x509.Certificate, path: Path) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def test_the_leaf_chains_through_the_issuing_ca_to_the_root(root, issuing, leaf):
    chain = verifier(root.certificate, at=NOW + dt.timedelta(days=1)).verify(
        leaf, [issuing.certificate]
    )

    assert chain.chain == [leaf, issuing.certificate, root.certificate]


def test_the_leaf_does_not_chain_to_another_cas_root(issuing, leaf):
    other_root = build_root(organization="另一认证机构（演示）", now=NOW - dt.timedelta(days=30))

    with pytest.raises(VerificationError):
        verifier(other_root.certificate, at=NOW + dt.timedelta(days=1)).verify(
            leaf, [issuing.certificate]
        )


def test_the_leaf_is_signed_by_the_issuing_key_and_by_no_other(root, issuing, leaf):
    leaf.verify_directly_issued_by(issuing.certificate)
    with pytest.raises((ValueError, InvalidSignature)):
        leaf.verify_directly_issued_by(root.certificate)


def test_a_certificate_signed_by_another_key_fails_verification(root, issuing):
    impostor = ec.generate_private_key(ec.SECP256R1())
    forged = build_enterprise_certificate(
        issuing_cert=issuing.certificate,
        issuing_key=impostor,
        enterprise_name=ENTERPRISE,
        credit_code=CREDIT_CODE,
        province="广东省",
        city="广州市",
        years=1,
        serial_number=new_serial_number(),
        not_before=NOW,
        crl_url=CRL_URL,
    ).certificate

    with pytest.raises(VerificationError):
        verifier(root.certificate, at=NOW + dt.timedelta(days=1)).verify(
            forged, [issuing.certificate]
        )


@pytest.mark.parametrize(
    "at", [NOW - dt.timedelta(seconds=1), NOW.replace(year=NOW.year + 3) + dt.timedelta(seconds=1)]
)
def test_the_leaf_does_not_verify_outside_its_validity(root, issuing, leaf, at):
    with pytest.raises(VerificationError):
        verifier(root.certificate, at=at).verify(leaf, [issuing.certificate])


def test_the_subject_names_the_enterprise_its_credit_code_and_place(issue):
    cert = issue(
        enterprise_name="深圳市前海示例供应链管理有限公司",
        credit_code="91440300MA5FXXXX2Y",
        province="广东省",
        city="深圳市",
    ).certificate

    def value(oid):
        [attribute] = cert.subject.get_attributes_for_oid(oid)
        return attribute.value

    assert value(NameOID.COUNTRY_NAME) == "CN"
    assert value(NameOID.STATE_OR_PROVINCE_NAME) == "广东省"
    assert value(NameOID.LOCALITY_NAME) == "深圳市"
    assert value(NameOID.ORGANIZATION_NAME) == "深圳市前海示例供应链管理有限公司"
    assert value(NameOID.COMMON_NAME) == "深圳市前海示例供应链管理有限公司"
    assert value(NameOID.ORGANIZATION_IDENTIFIER) == "91440300MA5FXXXX2Y"


LONG_NAME = "广东省广州市天河区珠江新城花城大道示例智慧城市数字科技研究院股份有限公司第一分部"


# cryptography counts commonName's 64 in UTF-8 bytes and warns each time it parses a longer one.
@pytest.mark.filterwarnings("ignore:Attribute's length:UserWarning")
def test_a_forty_character_name_is_kept_whole_in_cn_and_o_and_passes_pkilint(issue, tmp_path):
    assert len(LONG_NAME) == 40

    cert = issue(enterprise_name=LONG_NAME).certificate

    [cn] = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    [o] = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert cn.value == LONG_NAME
    assert o.value == LONG_NAME
    result = subprocess.run(
        [LINT / "lint_pkix_cert", "lint", "-s", "WARNING", pem(cert, tmp_path / "long.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["", "企" * 65])
def test_a_name_beyond_the_x520_bound_of_64_characters_is_refused(issue, name):
    with pytest.raises(ValueError, match="64 characters"):
        issue(enterprise_name=name)


def test_the_issuer_is_the_issuing_ca(issuing, leaf):
    assert leaf.issuer == issuing.certificate.subject


@pytest.mark.parametrize("years", [1, 3, 5])
def test_validity_runs_the_chosen_number_of_calendar_years(issue, years):
    cert = issue(years=years).certificate

    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW.replace(year=NOW.year + years)


@pytest.mark.parametrize(
    ("years", "not_after"),
    [
        (1, dt.datetime(2029, 2, 28, 8, tzinfo=dt.UTC)),
        (4, dt.datetime(2032, 2, 29, 8, tzinfo=dt.UTC)),
        (5, dt.datetime(2033, 2, 28, 8, tzinfo=dt.UTC)),
    ],
)
def test_a_29_february_start_ends_on_28_february_in_a_common_year(issue, years, not_after):
    cert = issue(not_before=dt.datetime(2028, 2, 29, 8, tzinfo=dt.UTC), years=years).certificate

    assert cert.not_valid_after_utc == not_after


def test_validity_is_counted_in_utc_whole_seconds(issue):
    beijing = dt.timezone(dt.timedelta(hours=8))
    start = dt.datetime(2026, 12, 31, 23, 59, 59, 987654, tzinfo=beijing)

    cert = issue(not_before=start, years=1).certificate

    assert cert.not_valid_before_utc == dt.datetime(2026, 12, 31, 15, 59, 59, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2027, 12, 31, 15, 59, 59, tzinfo=dt.UTC)


def test_a_naive_start_time_is_refused(issue):
    with pytest.raises(ValueError, match="timezone-aware"):
        issue(not_before=dt.datetime(2026, 11, 27, 9, 30))  # noqa: DTZ001


def test_a_validity_of_zero_years_is_refused(issue):
    with pytest.raises(ValueError, match="years"):
        issue(years=0)


def test_the_serial_is_the_one_the_caller_reserved(issue):
    serial = new_serial_number()

    cert = issue(serial_number=serial).certificate

    assert cert.serial_number == serial


@pytest.mark.parametrize("serial", [0, -1, 2**159])
def test_a_serial_outside_rfc_5280_is_refused(issue, serial):
    with pytest.raises(ValueError, match="serial_number"):
        issue(serial_number=serial)


def test_new_serials_are_positive_random_at_least_64_bits_and_fit_20_octets():
    serials = [new_serial_number() for _ in range(200)]

    assert len(set(serials)) == 200
    for serial in serials:
        assert 2**63 <= serial < 2**159


def test_a_random_draw_shorter_than_64_bits_is_thrown_away(monkeypatch):
    draws = iter([12345, 2**63 - 1, 2**100 + 7])
    monkeypatch.setattr(x509, "random_serial_number", lambda: next(draws))

    assert new_serial_number() == 2**100 + 7


def test_key_usage_is_critical_signing_and_non_repudiation_only(leaf):
    extension = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    usage = extension.value

    assert extension.critical
    assert usage.digital_signature
    assert usage.content_commitment
    assert not usage.key_cert_sign
    assert not usage.crl_sign
    assert not usage.key_encipherment
    assert not usage.data_encipherment
    assert not usage.key_agreement


def test_basic_constraints_are_critical_and_not_a_ca(leaf):
    extension = leaf.extensions.get_extension_for_class(x509.BasicConstraints)

    assert extension.critical
    assert extension.value.ca is False
    assert extension.value.path_length is None


def test_key_identifiers_link_the_leaf_key_and_the_issuing_ca(issuing, issue):
    issued = issue()
    cert = issued.certificate

    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    issuing_ski = issuing.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value

    assert (
        ski.digest
        == x509.SubjectKeyIdentifier.from_public_key(issued.private_key.public_key()).digest
    )
    assert aki.key_identifier == issuing_ski.digest
    assert ski.digest != issuing_ski.digest


def test_the_crl_distribution_point_is_the_issuing_cas_crl(issue):
    cert = issue(crl_url="https://yqq.example.cn/crl/ca7-issuing.crl").certificate

    [point] = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value

    assert point.full_name == [
        x509.UniformResourceIdentifier("https://yqq.example.cn/crl/ca7-issuing.crl")
    ]


def test_no_extensions_beyond_the_five_it_needs(leaf):
    assert {type(extension.value) for extension in leaf.extensions} == {
        x509.BasicConstraints,
        x509.KeyUsage,
        x509.SubjectKeyIdentifier,
        x509.AuthorityKeyIdentifier,
        x509.CRLDistributionPoints,
    }


def test_the_enterprise_key_is_a_fresh_p256_key_matching_the_certificate(issue):
    first, second = issue(), issue()

    assert isinstance(first.private_key.curve, ec.SECP256R1)
    assert first.certificate.public_key() == first.private_key.public_key()
    assert first.private_key.private_numbers() != second.private_key.private_numbers()


def test_the_certificate_is_signed_with_ecdsa_sha256(leaf):
    assert leaf.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256
    assert isinstance(leaf.signature_hash_algorithm, hashes.SHA256)


def test_the_fingerprint_is_the_sha256_of_the_der_in_lower_case_hex(leaf):
    der = leaf.public_bytes(serialization.Encoding.DER)

    assert fingerprint_sha256(leaf) == hashlib.sha256(der).hexdigest()


@pytest.mark.parametrize("severity", ["ERROR", "WARNING"])
def test_pkilint_finds_nothing_in_the_leaf(leaf, tmp_path, severity):
    result = subprocess.run(
        [LINT / "lint_pkix_cert", "lint", "-s", severity, pem(leaf, tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
    assert result.stderr == ""


def test_pkilint_accepts_the_issuing_ca_to_leaf_link(issuing, leaf, tmp_path):
    result = subprocess.run(
        [
            LINT / "lint_pkix_signer_signee_cert_chain",
            "lint",
            pem(issuing.certificate, tmp_path / "issuing.pem"),
            pem(leaf, tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""
