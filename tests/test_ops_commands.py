"""The operators' commands: `ca_init` (a CA's root and issuing CA) and `wechatpay_merchant_set`
(a CA's WeChat Pay merchant account, secrets from files and the environment, never printed)."""

import datetime as dt
import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.core.management import call_command
from django.core.management.base import CommandError

from certificates.models import CACertificate
from orders.models import WechatPayMerchant
from orders.payments.providers import merchant_config
from tests.factories import CAInstitutionFactory

pytestmark = pytest.mark.django_db

API_V3_KEY = "Ab3dEf6hIj9kLm2oPq5sTu8wXy1zA4cD"  # 32 bytes


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def colon_hex(hex_digest: str) -> str:
    upper = hex_digest.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


# ---- ca_init ---------------------------------------------------------------------------------


def test_ca_init_generates_the_root_and_issuing_ca_and_prints_the_root():
    ca = CAInstitutionFactory()

    out, _ = run("ca_init", "--ca", ca.code)

    certs = {c.role: c for c in ca.certificates.all()}
    assert set(certs) == {CACertificate.Role.ROOT, CACertificate.Role.ISSUING}
    root = certs[CACertificate.Role.ROOT]
    assert colon_hex(root.sha256_fingerprint) in out
    assert root.subject in out
    # What is printed is the stored certificate's own fingerprint.
    loaded = x509.load_pem_x509_certificate(root.certificate_pem.encode())
    assert loaded.fingerprint(hashes.SHA256()).hex() == root.sha256_fingerprint
    issuing = x509.load_pem_x509_certificate(
        certs[CACertificate.Role.ISSUING].certificate_pem.encode()
    )
    assert issuing.issuer == loaded.subject
    assert "PRIVATE KEY" not in out


def test_ca_init_refuses_a_ca_that_already_has_its_hierarchy():
    ca = CAInstitutionFactory()
    run("ca_init", "--ca", ca.code)
    root = ca.certificates.get(role=CACertificate.Role.ROOT)

    with pytest.raises(CommandError, match="already has its root CA") as refused:
        run("ca_init", "--ca", ca.code)

    assert colon_hex(root.sha256_fingerprint) in str(refused.value)
    assert ca.certificates.count() == 2
    assert ca.certificates.get(role=CACertificate.Role.ROOT).pk == root.pk


def test_ca_init_refuses_an_unknown_ca_and_needs_exactly_one_of_ca_or_all():
    CAInstitutionFactory(code="known")
    with pytest.raises(CommandError, match=r"No CA institution with code 'nope'.*known"):
        run("ca_init", "--ca", "nope")
    with pytest.raises(CommandError, match="one of the arguments --ca --all is required"):
        run("ca_init")
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("ca_init", "--ca", "known", "--all")


def test_ca_init_all_initializes_every_active_ca_without_a_hierarchy():
    done = CAInstitutionFactory()
    run("ca_init", "--ca", done.code)
    done_root = done.certificates.get(role=CACertificate.Role.ROOT).pk
    first, second = CAInstitutionFactory(), CAInstitutionFactory()
    inactive = CAInstitutionFactory(is_active=False)

    out, _ = run("ca_init", "--all")

    for ca in (first, second):
        assert ca.certificates.count() == 2
        root = ca.certificates.get(role=CACertificate.Role.ROOT)
        assert colon_hex(root.sha256_fingerprint) in out
    assert not inactive.certificates.exists()
    assert done.certificates.get(role=CACertificate.Role.ROOT).pk == done_root
    assert done.code not in out

    out, _ = run("ca_init", "--all")
    assert "already has its root and issuing CA" in out
    assert CACertificate.objects.count() == 6


def test_ca_init_runs_without_debug(settings):
    settings.DEBUG = False
    ca = CAInstitutionFactory()
    run("ca_init", "--ca", ca.code)
    assert ca.certificates.count() == 2


# ---- wechatpay_merchant_set ------------------------------------------------------------------


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_pem(key, fmt=serialization.PrivateFormat.PKCS8, encryption=None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()
    )


def public_pem(key) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def certificate_pem(key, *, serial: int, days: int = 365) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def keys():
    return {"merchant": rsa_key(), "platform": rsa_key(), "other": rsa_key()}


@pytest.fixture
def files(tmp_path, keys):
    merchant = tmp_path / "apiclient_key.pem"
    merchant.write_bytes(private_pem(keys["merchant"]))
    platform = tmp_path / "pub_key.pem"
    platform.write_bytes(public_pem(keys["platform"]))
    return {"merchant": merchant, "platform": platform}


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("WECHATPAY_API_V3_KEY", API_V3_KEY)
    return API_V3_KEY


def merchant_args(ca, files, **overrides) -> list[str]:
    options = {
        "--ca": ca.code,
        "--mchid": "1900000109",
        "--appid": "wxd678efh567hg6787",
        "--merchant-serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "--merchant-key-file": str(files["merchant"]),
        "--platform-serial": "PUB_KEY_ID_0114232134912410000000000000",
        "--platform-public-key-file": str(files["platform"]),
        **overrides,
    }
    args = []
    for option, value in options.items():
        if value is not None:
            args += [option, value]
    return args


def assert_no_secrets(text: str, keys) -> None:
    assert API_V3_KEY not in text
    assert "PRIVATE KEY" not in text
    body = b"".join(private_pem(keys["merchant"]).splitlines()[1:-1]).decode()
    for i in range(0, len(body) - 40, 40):  # no piece of the key's base64 either
        assert body[i : i + 40] not in text


def test_merchant_set_stores_a_merchant_whose_secrets_decrypt(files, keys, api_key):
    ca = CAInstitutionFactory()

    out, err = run("wechatpay_merchant_set", *merchant_args(ca, files))

    merchant = WechatPayMerchant.objects.get(ca=ca)
    assert merchant.mchid == "1900000109"
    assert merchant.appid == "wxd678efh567hg6787"
    assert merchant.encrypted_sandbox_platform_key is None
    config = merchant_config(merchant)
    assert config.api_v3_key == API_V3_KEY
    assert config.merchant_private_key.private_numbers() == keys["merchant"].private_numbers()
    platform = config.platform_key("PUB_KEY_ID_0114232134912410000000000000")
    assert platform.public_numbers() == keys["platform"].public_key().public_numbers()
    assert config.notify_url.endswith(f"/pay/wechat/notify/{ca.code}/")
    # The secrets are stored encrypted, not as they came.
    assert API_V3_KEY.encode() not in bytes(merchant.encrypted_api_v3_key)
    assert "1900000109" in out
    assert f"/pay/wechat/notify/{ca.code}/" in out
    assert_no_secrets(out + err, keys)


def test_merchant_set_accepts_a_pkcs1_key_and_a_platform_certificate(
    tmp_path, files, keys, api_key, settings
):
    settings.YQ_PAYMENT_PROVIDER = "orders.payments.providers.WechatPayProvider"
    ca = CAInstitutionFactory()
    files["merchant"].write_bytes(
        private_pem(keys["merchant"], serialization.PrivateFormat.TraditionalOpenSSL)
    )
    cert = tmp_path / "wechatpay_platform.pem"
    cert.write_bytes(certificate_pem(keys["platform"], serial=0x3775B6A45ACD588826D15E583A95F5DD))

    out, err = run(
        "wechatpay_merchant_set",
        *merchant_args(
            ca,
            files,
            **{
                "--platform-serial": "3775B6A45ACD588826D15E583A95F5DD",
                "--platform-public-key-file": str(cert),
            },
        ),
    )

    config = merchant_config(WechatPayMerchant.objects.get(ca=ca))
    assert (
        config.platform_key("3775b6a45acd588826d15e583a95f5dd").public_numbers()
        == keys["platform"].public_key().public_numbers()
    )
    assert "platform certificate, valid until" in out
    assert err == ""  # the real provider: no sandbox note
    assert_no_secrets(out + err, keys)


def test_merchant_set_notes_that_the_sandbox_cashier_cannot_use_it(files, keys, api_key):
    ca = CAInstitutionFactory()
    _, err = run("wechatpay_merchant_set", *merchant_args(ca, files))
    assert "sandbox" in err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "Set the APIv3 key in the environment variable WECHATPAY_API_V3_KEY"),
        ("", "Set the APIv3 key in the environment variable WECHATPAY_API_V3_KEY"),
        ("short-key", "is 9 bytes long; the APIv3 key is exactly 32 bytes"),
        (API_V3_KEY + "x", "is 33 bytes long"),
        (API_V3_KEY[:-1] + " ", "contains whitespace"),
    ],
)
def test_merchant_set_refuses_a_missing_or_malformed_api_v3_key(
    files, keys, monkeypatch, value, message
):
    if value is None:
        monkeypatch.delenv("WECHATPAY_API_V3_KEY", raising=False)
    else:
        monkeypatch.setenv("WECHATPAY_API_V3_KEY", value)
    ca = CAInstitutionFactory()

    with pytest.raises(CommandError, match=message) as refused:
        run("wechatpay_merchant_set", *merchant_args(ca, files))

    if value:
        assert value not in str(refused.value)
    assert not WechatPayMerchant.objects.exists()


def test_merchant_set_has_no_api_v3_key_option(files, api_key):
    ca = CAInstitutionFactory()
    with pytest.raises(CommandError, match="unrecognized arguments"):
        run("wechatpay_merchant_set", *merchant_args(ca, files), "--api-v3-key", API_V3_KEY)


def test_merchant_set_refuses_missing_files(tmp_path, files, api_key):
    ca = CAInstitutionFactory()
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(CommandError, match=r"--merchant-key-file .*nope\.pem: no such file"):
        run("wechatpay_merchant_set", *merchant_args(ca, files, **{"--merchant-key-file": missing}))
    with pytest.raises(CommandError, match=r"--platform-public-key-file .*: no such file"):
        run(
            "wechatpay_merchant_set",
            *merchant_args(ca, files, **{"--platform-public-key-file": missing}),
        )
    with pytest.raises(CommandError, match="not a regular file"):
        run(
            "wechatpay_merchant_set",
            *merchant_args(ca, files, **{"--merchant-key-file": str(tmp_path)}),
        )
    assert not WechatPayMerchant.objects.exists()


def merchant_key_contents(keys, kind: str) -> bytes:
    if kind == "ec":
        return private_pem(ec.generate_private_key(ec.SECP256R1()))
    if kind == "small":
        return private_pem(rsa_key(1024))
    if kind == "encrypted":
        return private_pem(
            keys["merchant"], encryption=serialization.BestAvailableEncryption(b"passphrase")
        )
    if kind == "public":
        return public_pem(keys["merchant"])
    if kind == "garbage":
        return b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    return b"not a key at all"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("ec", "not an RSA private key"),
        ("small", "1024 bits; at least 2048"),
        ("encrypted", "the key is encrypted"),
        ("public", "not a PEM private key"),
        ("garbage", "not a PEM private key"),
        ("text", "not a PEM file"),
    ],
)
def test_merchant_set_refuses_a_merchant_key_that_is_not_an_rsa_private_key(
    files, keys, api_key, kind, message
):
    files["merchant"].write_bytes(merchant_key_contents(keys, kind))
    ca = CAInstitutionFactory()
    with pytest.raises(CommandError, match=message):
        run("wechatpay_merchant_set", *merchant_args(ca, files))
    assert not WechatPayMerchant.objects.exists()


def test_merchant_set_refuses_a_wrong_platform_key(tmp_path, files, keys, api_key):
    ca = CAInstitutionFactory()
    files["platform"].write_bytes(
        public_pem(ec.generate_private_key(ec.SECP256R1()))  # not RSA
    )
    with pytest.raises(CommandError, match="not an RSA public key"):
        run("wechatpay_merchant_set", *merchant_args(ca, files))

    files["platform"].write_bytes(public_pem(keys["merchant"]))  # the merchant's own key
    with pytest.raises(CommandError, match="merchant's own public key"):
        run("wechatpay_merchant_set", *merchant_args(ca, files))

    files["platform"].write_bytes(private_pem(keys["platform"]))
    with pytest.raises(CommandError, match="neither a PEM public key nor a PEM certificate"):
        run("wechatpay_merchant_set", *merchant_args(ca, files))

    cert = tmp_path / "platform-cert.pem"
    cert.write_bytes(certificate_pem(keys["platform"], serial=0xABCDEF))
    with pytest.raises(CommandError, match="the certificate's serial is ABCDEF"):
        run(
            "wechatpay_merchant_set",
            *merchant_args(
                ca,
                files,
                **{"--platform-serial": "123456", "--platform-public-key-file": str(cert)},
            ),
        )

    cert.write_bytes(certificate_pem(keys["platform"], serial=0xABCDEF, days=-1))
    with pytest.raises(CommandError, match="the certificate expired on"):
        run(
            "wechatpay_merchant_set",
            *merchant_args(
                ca,
                files,
                **{"--platform-serial": "ABCDEF", "--platform-public-key-file": str(cert)},
            ),
        )
    assert not WechatPayMerchant.objects.exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--mchid", "19000abc"),
        ("--mchid", "1" * 33),
        ("--appid", "wx-123"),
        ("--merchant-serial", "NOT-HEX"),
        ("--platform-serial", "PUB KEY"),
    ],
)
def test_merchant_set_refuses_malformed_identifiers(files, api_key, option, value):
    ca = CAInstitutionFactory()
    with pytest.raises(CommandError, match=f"{option} .* is not valid"):
        run("wechatpay_merchant_set", *merchant_args(ca, files, **{option: value}))
    assert not WechatPayMerchant.objects.exists()


def test_merchant_set_refuses_an_unknown_ca(files, api_key):
    ca = CAInstitutionFactory.build(code="ghost")
    with pytest.raises(CommandError, match="No CA institution with code 'ghost'"):
        run("wechatpay_merchant_set", *merchant_args(ca, files))


def test_merchant_set_refuses_a_ca_that_has_a_merchant_unless_replace(
    files, keys, api_key, monkeypatch
):
    ca = CAInstitutionFactory()
    run("wechatpay_merchant_set", *merchant_args(ca, files))
    first = WechatPayMerchant.objects.get(ca=ca)

    with pytest.raises(CommandError, match=r"already has a WeChat Pay merchant.*--replace"):
        run("wechatpay_merchant_set", *merchant_args(ca, files, **{"--mchid": "1900000110"}))
    assert WechatPayMerchant.objects.get(ca=ca).pk == first.pk

    new_key = files["merchant"].parent / "new_key.pem"
    new_key.write_bytes(private_pem(keys["other"]))
    new_api_key = "Zy9xWv8uTs7rQp6oNm5lKj4iHg3fEd2c"
    monkeypatch.setenv("WECHATPAY_API_V3_KEY", new_api_key)
    out, err = run(
        "wechatpay_merchant_set",
        *merchant_args(ca, files, **{"--mchid": "1900000110", "--merchant-key-file": str(new_key)}),
        "--replace",
    )

    merchant = WechatPayMerchant.objects.get(ca=ca)
    assert WechatPayMerchant.objects.count() == 1
    assert merchant.mchid == "1900000110"
    config = merchant_config(merchant)
    assert config.api_v3_key == new_api_key
    assert config.merchant_private_key.private_numbers() == keys["other"].private_numbers()
    assert "Replaced merchant 1900000109" in out
    assert new_api_key not in out + err


def test_merchant_set_replace_keeps_the_old_merchant_when_storing_fails(
    files, api_key, monkeypatch
):
    from orders.management.commands import wechatpay_merchant_set as command

    ca = CAInstitutionFactory()
    run("wechatpay_merchant_set", *merchant_args(ca, files))

    def broken(**kwargs):
        WechatPayMerchant.objects.create(
            ca=kwargs["ca"],
            mchid=kwargs["mchid"],
            appid=kwargs["appid"],
            merchant_serial="00",
            encrypted_merchant_key=b"",
            encrypted_api_v3_key=b"",
            platform_serial="00",
            platform_public_key_pem="",
        )
        raise ValueError("storing failed")

    monkeypatch.setattr(command, "wechatpay_merchant_create", broken)
    with pytest.raises(CommandError, match="not stored: storing failed"):
        run(
            "wechatpay_merchant_set",
            *merchant_args(ca, files, **{"--mchid": "1900000111"}),
            "--replace",
        )

    merchant = WechatPayMerchant.objects.get(ca=ca)
    assert merchant.mchid == "1900000109"
    assert merchant_config(merchant).api_v3_key == API_V3_KEY


def test_merchant_set_refuses_an_mchid_of_another_ca(files, api_key):
    first, second = CAInstitutionFactory(), CAInstitutionFactory()
    run("wechatpay_merchant_set", *merchant_args(first, files))

    with pytest.raises(CommandError, match=f"already the merchant account of CA {first.code}"):
        run("wechatpay_merchant_set", *merchant_args(second, files), "--replace")
    assert not WechatPayMerchant.objects.filter(ca=second).exists()
