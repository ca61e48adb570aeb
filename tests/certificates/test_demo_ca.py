"""The demo data: three CAs, each with a root and an issuing CA that form a valid chain, their
private keys encrypted at rest, packages, agreement v1 and staff logins."""

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.management import call_command

from accounts.models import User
from certificates.keys import EncryptedDatabaseKeyBackend, KeyDecryptionError
from certificates.models import AgreementVersion, CACertificate, CAInstitution, Package
from certificates.selectors import agreement_current, ca_private_key_load
from certificates.services import ca_chain_pem

pytestmark = pytest.mark.django_db
LINT = Path(__file__).resolve().parents[2] / ".venv" / "bin"


@pytest.fixture
def demo(settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return list(CAInstitution.objects.order_by("sort_order", "id"))


def pair(ca: CAInstitution) -> tuple[x509.Certificate, x509.Certificate]:
    certs = {c.role: c for c in ca.certificates.all()}
    load = x509.load_pem_x509_certificate
    return (
        load(certs["root"].certificate_pem.encode()),
        load(certs["issuing"].certificate_pem.encode()),
    )


def test_three_fictional_cas_with_packages_agreements_and_accounts(demo):
    assert len(demo) == 3
    for ca in demo:
        assert "（演示）" in ca.name
        assert ca.bank_account_number
        assert ca.contact_phone
        assert "{ref}" in ca.transfer_remark_format
        assert Package.objects.filter(ca=ca, is_active=True).exists()
        assert agreement_current(ca=ca).version == 1
    assert len({ca.transfer_remark_format for ca in demo}) == 3


def test_each_issuing_ca_chains_to_its_own_root(demo):
    for ca in demo:
        root, issuing = pair(ca)

        root.verify_directly_issued_by(root)
        issuing.verify_directly_issued_by(root)
        assert issuing.issuer == root.subject
        root_bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
        issuing_bc = issuing.extensions.get_extension_for_class(x509.BasicConstraints)
        assert root_bc.critical
        assert root_bc.value.ca is True
        assert issuing_bc.critical
        assert issuing_bc.value.ca is True
        assert issuing_bc.value.path_length == 0
        aki = issuing.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        assert aki.key_identifier == ski.digest
        assert issuing.not_valid_after_utc <= root.not_valid_after_utc


def test_an_issuing_ca_does_not_chain_to_another_cas_root(demo):
    root_a, _ = pair(demo[0])
    _, issuing_b = pair(demo[1])

    with pytest.raises((ValueError, InvalidSignature)):
        issuing_b.verify_directly_issued_by(root_a)


def test_the_stored_key_matches_its_certificate_and_signs(demo):
    for ca in demo:
        for stored in ca.certificates.all():
            cert = x509.load_pem_x509_certificate(stored.certificate_pem.encode())
            key = ca_private_key_load(stored)
            assert key.public_key().public_numbers() == cert.public_key().public_numbers()
            key.sign(b"probe", ec.ECDSA(cert.signature_hash_algorithm))


def test_private_keys_are_encrypted_at_rest(demo):
    stored = CACertificate.objects.get(ca=demo[0], role="issuing")
    key = ca_private_key_load(stored)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    blob = bytes(stored.encrypted_private_key)

    assert der not in blob
    assert key.private_numbers().private_value.to_bytes(32, "big") not in blob


def test_a_key_blob_does_not_open_on_another_row_or_with_another_master_key(demo):
    a = CACertificate.objects.get(ca=demo[0], role="issuing")
    b = CACertificate.objects.get(ca=demo[1], role="issuing")

    with pytest.raises(KeyDecryptionError):
        EncryptedDatabaseKeyBackend().unwrap(
            a.encrypted_private_key, context=bytes.fromhex(b.sha256_fingerprint)
        )
    other_master = "A" * 43 + "="
    with pytest.raises(KeyDecryptionError):
        EncryptedDatabaseKeyBackend(other_master).unwrap(
            a.encrypted_private_key, context=bytes.fromhex(a.sha256_fingerprint)
        )


def test_seeding_twice_changes_nothing(demo, settings):
    fingerprints = set(CACertificate.objects.values_list("sha256_fingerprint", flat=True))

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert set(CACertificate.objects.values_list("sha256_fingerprint", flat=True)) == fingerprints
    assert CAInstitution.objects.count() == 3
    assert AgreementVersion.objects.count() == 3


def test_staff_logins_one_support_and_one_reviewer_per_ca(demo):
    support = User.objects.get(groups__name="客服")
    assert support.is_staff
    assert support.check_password("yqq-demo-support")
    for ca in demo:
        reviewer = User.objects.get(groups__name="CA审核员", ca_institution=ca)
        assert reviewer.is_staff
        assert reviewer.check_password("yqq-demo-reviewer")


def test_seed_demo_refuses_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(Exception, match="DEBUG"):
        call_command("seed_demo")


@pytest.mark.parametrize("role", ["root", "issuing"])
def test_ca_certificates_pass_pkilint(demo, tmp_path, role):
    for ca in demo:
        pem = tmp_path / f"{ca.code}-{role}.pem"
        pem.write_text(CACertificate.objects.get(ca=ca, role=role).certificate_pem)
        result = subprocess.run(
            [LINT / "lint_pkix_cert", "lint", "-s", "WARNING", str(pem)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_chain_pem_lists_issuing_then_root(demo):
    root, issuing = pair(demo[0])
    certs = x509.load_pem_x509_certificates(ca_chain_pem(ca=demo[0]).encode())
    assert [c.subject for c in certs] == [issuing.subject, root.subject]
