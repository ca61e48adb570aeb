"""Store a CA institution's WeChat Pay merchant account (orders.payments.services).

For operators, once per CA (each CA is the payee of its own orders):

    WECHATPAY_API_V3_KEY=… manage.py wechatpay_merchant_set --ca nanyue \\
        --mchid 1900000101 --appid wx… --merchant-serial 5157F09E… \\
        --merchant-key-file apiclient_key.pem \\
        --platform-serial PUB_KEY_ID_… --platform-public-key-file pub_key.pem

The APIv3 key is read from the environment variable WECHATPAY_API_V3_KEY, never from the
command line, so it stays out of shell history and process lists. The merchant's API private key
and the APIv3 key are stored encrypted (certificates.keys) and bound to the mchid; nothing
secret is ever printed. A CA that already has a merchant account is refused unless --replace
is given; the old account is then replaced in the same transaction as the new one is stored.
"""

import os
import re
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from certificates.models import CAInstitution
from orders.models import WechatPayMerchant
from orders.payments.providers import merchant_config, notify_url
from orders.payments.services import wechatpay_merchant_create

API_V3_KEY_ENV = "WECHATPAY_API_V3_KEY"
API_V3_KEY_BYTES = 32
MIN_RSA_BITS = 2048
MAX_KEY_FILE_BYTES = 64 * 1024  # a PEM key or certificate is a few KB

# The model's column widths, and what WeChat Pay's identifiers look like.
MCHID = re.compile(r"[0-9]{1,32}")
APPID = re.compile(r"[A-Za-z0-9_]{1,32}")
MERCHANT_SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}")  # the merchant API certificate's hex serial
# A platform certificate's hex serial, or a WeChat Pay public key id "PUB_KEY_ID_…".
PLATFORM_SERIAL = re.compile(r"[A-Za-z0-9_]{1,64}")


class Command(BaseCommand):
    help = (
        "Store a CA institution's WeChat Pay (API v3) merchant account. The APIv3 key is read "
        f"from the environment variable {API_V3_KEY_ENV}."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ca", required=True, metavar="CODE", help="the CA's code (代码)")
        parser.add_argument("--mchid", required=True, help="商户号")
        parser.add_argument("--appid", required=True, help="the AppID bound to the merchant")
        parser.add_argument(
            "--merchant-serial",
            required=True,
            help="serial number of the merchant API certificate (商户API证书序列号)",
        )
        parser.add_argument(
            "--merchant-key-file",
            required=True,
            metavar="PATH",
            help="the merchant API private key: an unencrypted PEM RSA key (apiclient_key.pem)",
        )
        parser.add_argument(
            "--platform-serial",
            required=True,
            help="the WeChat Pay public key id (PUB_KEY_ID_…) or platform certificate serial",
        )
        parser.add_argument(
            "--platform-public-key-file",
            required=True,
            metavar="PATH",
            help="the WeChat Pay public key or platform certificate, PEM",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="replace the CA's existing merchant account",
        )

    def handle(self, *args, **options) -> None:
        code = options["ca"]
        if not CAInstitution.objects.filter(code=code).exists():
            known = ", ".join(CAInstitution.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"No CA institution with code {code!r} (known codes: {known}).")
        mchid = _identifier("--mchid", options["mchid"], MCHID, "digits only, at most 32")
        appid = _identifier("--appid", options["appid"], APPID, "letters, digits and _, at most 32")
        merchant_serial = _identifier(
            "--merchant-serial",
            options["merchant_serial"],
            MERCHANT_SERIAL,
            "hexadecimal, at most 64 characters",
        )
        platform_serial = _identifier(
            "--platform-serial",
            options["platform_serial"],
            PLATFORM_SERIAL,
            "PUB_KEY_ID_… or a hexadecimal serial, at most 64 characters",
        )
        api_v3_key = _api_v3_key()
        merchant_key = _merchant_private_key(options["merchant_key_file"])
        platform_key, platform_note = _platform_public_key(
            options["platform_public_key_file"], serial=platform_serial
        )
        if platform_key.public_numbers() == merchant_key.public_key().public_numbers():
            raise CommandError(
                "--platform-public-key-file holds the merchant's own public key; it must be "
                "WeChat Pay's public key (or platform certificate)."
            )

        replaced = None
        try:
            with transaction.atomic():
                ca = CAInstitution.objects.select_for_update().get(code=code)
                current = WechatPayMerchant.objects.filter(ca=ca).first()
                if current is not None and not options["replace"]:
                    raise CommandError(
                        f"CA {ca.code} already has a WeChat Pay merchant account (mchid "
                        f"{current.mchid}); pass --replace to replace it."
                    )
                taken = WechatPayMerchant.objects.filter(mchid=mchid).exclude(ca=ca).first()
                if taken is not None:
                    raise CommandError(
                        f"mchid {mchid} is already the merchant account of CA {taken.ca.code}."
                    )
                if current is not None:
                    replaced = current.mchid
                    current.delete()
                merchant = wechatpay_merchant_create(
                    ca=ca,
                    mchid=mchid,
                    appid=appid,
                    merchant_serial=merchant_serial,
                    merchant_private_key=merchant_key,
                    api_v3_key=api_v3_key,
                    platform_serial=platform_serial,
                    platform_public_key=platform_key,
                )
                # Read it back as the payment provider will: the secrets must decrypt.
                merchant_config(merchant)
        except IntegrityError as exc:
            raise CommandError(
                f"CA {code}: the merchant account changed meanwhile; run the command again."
            ) from exc
        except (ValueError, TypeError) as exc:
            # The messages of these checks name fields, never secret values.
            raise CommandError(f"The merchant account was not stored: {exc}") from exc

        verb = f"Replaced merchant {replaced} of" if replaced else "Stored the merchant account of"
        self.stdout.write(self.style.SUCCESS(f"{verb} CA {ca.code} ({ca.name})."))
        self.stdout.write(f"  mchid:            {merchant.mchid}")
        self.stdout.write(f"  appid:            {merchant.appid}")
        self.stdout.write(f"  merchant serial:  {merchant.merchant_serial}")
        self.stdout.write(f"  merchant key:     RSA {merchant_key.key_size} bits (encrypted)")
        self.stdout.write(f"  APIv3 key:        {API_V3_KEY_BYTES} bytes (encrypted)")
        self.stdout.write(f"  platform serial:  {merchant.platform_serial} ({platform_note})")
        self.stdout.write(f"  notify URL:       {notify_url(ca)}")
        provider = import_string(settings.YQ_PAYMENT_PROVIDER)
        if getattr(provider, "sandbox", True):
            self.stderr.write(
                f"Note: YQ_PAYMENT_PROVIDER is the sandbox ({settings.YQ_PAYMENT_PROVIDER}); its "
                "cashier signs notifications with a sandbox platform key, which this command "
                "does not store, so it cannot take payments for this merchant."
            )


def _identifier(option: str, value: str, pattern: re.Pattern, rule: str) -> str:
    value = value.strip()
    if not pattern.fullmatch(value):
        raise CommandError(f"{option} {value!r} is not valid ({rule}).")
    return value


def _api_v3_key() -> str:
    value = os.environ.get(API_V3_KEY_ENV)
    if not value:
        raise CommandError(
            f"Set the APIv3 key in the environment variable {API_V3_KEY_ENV} "
            f"(e.g. {API_V3_KEY_ENV}=… manage.py wechatpay_merchant_set …); it is never "
            "accepted on the command line."
        )
    if any(ch.isspace() for ch in value):
        raise CommandError(f"{API_V3_KEY_ENV} contains whitespace; the APIv3 key has none.")
    size = len(value.encode())
    if size != API_V3_KEY_BYTES:
        raise CommandError(
            f"{API_V3_KEY_ENV} is {size} bytes long; the APIv3 key is exactly "
            f"{API_V3_KEY_BYTES} bytes."
        )
    return value


def _read(option: str, path: str) -> bytes:
    file = Path(path).expanduser()
    if not file.exists():
        raise CommandError(f"{option} {path}: no such file.")
    if not file.is_file():
        raise CommandError(f"{option} {path}: not a regular file.")
    if file.stat().st_size > MAX_KEY_FILE_BYTES:
        raise CommandError(f"{option} {path}: too large for a PEM key or certificate.")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise CommandError(f"{option} {path}: cannot be read ({exc.strerror}).") from exc
    if b"-----BEGIN " not in data:
        raise CommandError(f"{option} {path}: not a PEM file.")
    return data


def _merchant_private_key(path: str) -> rsa.RSAPrivateKey:
    option = "--merchant-key-file"
    data = _read(option, path)
    if b"ENCRYPTED" in data:
        raise CommandError(f"{option} {path}: the key is encrypted; give the unencrypted PEM.")
    # Exception texts are not shown: they are generic, and the key is none of the log's business.
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CommandError(
            f"{option} {path}: not a PEM private key (the merchant's apiclient_key.pem)."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CommandError(f"{option} {path}: not an RSA private key.")
    if key.key_size < MIN_RSA_BITS:
        raise CommandError(
            f"{option} {path}: an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}."
        )
    return key


def _platform_public_key(path: str, *, serial: str) -> tuple[rsa.RSAPublicKey, str]:
    """WeChat Pay's public key, from a PEM public key or a PEM platform certificate."""
    option = "--platform-public-key-file"
    data = _read(option, path)
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError:
            raise CommandError(f"{option} {path}: not a readable PEM certificate.") from None
        cert_serial = format(certificate.serial_number, "X")
        if cert_serial != serial.upper().lstrip("0"):
            raise CommandError(
                f"{option} {path}: the certificate's serial is {cert_serial}, "
                f"not --platform-serial {serial}."
            )
        expires = certificate.not_valid_after_utc
        if expires <= timezone.now():
            raise CommandError(f"{option} {path}: the certificate expired on {expires:%Y-%m-%d}.")
        key = certificate.public_key()
        note = f"platform certificate, valid until {expires:%Y-%m-%d}"
    else:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise CommandError(
                f"{option} {path}: neither a PEM public key nor a PEM certificate."
            ) from None
        note = "public key"
    if not isinstance(key, rsa.RSAPublicKey):
        raise CommandError(f"{option} {path}: not an RSA public key.")
    return key, note
