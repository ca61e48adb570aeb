"""WeChat Pay API v3 (微信支付 APIv3), the protocol only: signing, verification, decryption.

Pure on purpose: no Django models and no settings. A payment provider builds a `MerchantConfig`
from its own configuration and wraps `WechatPayClient` / `parse_notification`; the sandbox
provider uses `SandboxPlatform`, which speaks the same protocol, so every check below also runs
offline.

The protocol, as pay.weixin.qq.com's "签名生成", "签名验证" and "证书和回调报文解密" pages state it:

* **Requests** carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"`. The signature is base64 of RSA-SHA256 (PKCS#1 v1.5)
  with the merchant's API private key over five lines, each ending in `\\n`:
  `METHOD\\nPATH_WITH_QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n` (BODY is empty for GET, and must be the
  exact JSON sent). `serial_no` names the merchant API certificate.
* **Responses and notifications** are signed by WeChat Pay's *platform* key. The headers
  `Wechatpay-Serial` (which platform certificate / public key), `Wechatpay-Timestamp`,
  `Wechatpay-Nonce` and `Wechatpay-Signature` cover `TIMESTAMP\\nNONCE\\nBODY\\n`, BODY being the
  exact bytes received (an empty body, as in 204, still contributes its `\\n`). A 2xx response
  without a valid signature is to be treated as forged. We also refuse a timestamp more than
  five minutes from our clock, as the official SDKs do, so a captured message cannot be replayed
  later. A "WECHATPAY/SIGNTEST/" probe signature simply fails verification, as it should.
* **Notification payloads** are encrypted: `resource` holds `AEAD_AES_256_GCM` ciphertext
  (base64, the 16-byte tag appended) with its `nonce` and `associated_data`; the key is the
  merchant's 32-byte APIv3 key. The plaintext is the same transaction object the query API
  returns. Amounts are integer fen throughout.

Error responses (non-2xx) are not required to be signed — WeChat Pay cannot sign the answer to a
request whose own signature failed (401 SIGN_ERROR) — so they are only ever turned into a
`WechatPayError`: an unverified answer can make a call fail, never succeed.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import secrets
import string
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
DEFAULT_API_BASE = "https://api.mch.weixin.qq.com"
# WeChat Pay's own limit for request timestamps; we hold its messages to the same window.
MAX_CLOCK_SKEW_SECONDS = 300
HTTP_TIMEOUT_SECONDS = 10
EVENT_TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS"
ALGORITHM_AES_256_GCM = "AEAD_AES_256_GCM"
TRADE_STATE_SUCCESS = "SUCCESS"
CURRENCY_CNY = "CNY"
USER_AGENT = "yueqiqian-wechatpay/1 (Python urllib)"

HEADER_SERIAL = "Wechatpay-Serial"
HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"
_REQUIRED_HEADERS = (HEADER_SERIAL, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

# 商户订单号 allows only digits, letters and _-*, at most 32: checked before it enters a path.
_OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-*]{1,32}")
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_CHINA_TZ = timezone(timedelta(hours=8))

PlatformKey = rsa.RSAPublicKey | x509.Certificate
# (method, absolute URL, headers, body) -> (status, headers, body)
Transport = Callable[[str, str, Mapping[str, str], bytes], tuple[int, Mapping[str, str], bytes]]


@dataclass(frozen=True)
class MerchantConfig:
    """One merchant (the CA as payee). `platform_public_keys` maps Wechatpay-Serial → key.

    The serial may be a platform certificate's hex serial or a "PUB_KEY_ID_…" public-key id;
    either way it is matched case-insensitively. Certificates are reduced to their public key.
    """

    mchid: str
    appid: str
    merchant_serial_no: str
    merchant_private_key: rsa.RSAPrivateKey = field(repr=False)
    api_v3_key: str = field(repr=False)
    platform_public_keys: Mapping[str, PlatformKey]
    notify_url: str
    api_base: str = DEFAULT_API_BASE

    def __post_init__(self) -> None:
        for name in ("mchid", "appid", "merchant_serial_no", "notify_url"):
            if not getattr(self, name):
                raise ValueError(f"MerchantConfig.{name} is required")
        if not isinstance(self.merchant_private_key, rsa.RSAPrivateKey):
            raise TypeError("merchant_private_key must be an RSA private key")
        if len(self.api_v3_key.encode()) != 32:
            raise ValueError("the APIv3 key must be exactly 32 bytes")
        # Only http(s): the base URL is handed to urllib, which would also open file:// URLs.
        if urlsplit(self.api_base).scheme not in ("https", "http"):
            raise ValueError("api_base must be an http(s) URL")
        keys: dict[str, rsa.RSAPublicKey] = {}
        for serial, key in self.platform_public_keys.items():
            public_key = key.public_key() if isinstance(key, x509.Certificate) else key
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise TypeError(f"platform key {serial} is not an RSA public key")
            keys[serial.upper()] = public_key
        object.__setattr__(self, "platform_public_keys", MappingProxyType(keys))
        object.__setattr__(self, "api_base", self.api_base.rstrip("/"))

    def platform_key(self, serial: str) -> rsa.RSAPublicKey | None:
        return self.platform_public_keys.get(serial.upper())


# --- errors -------------------------------------------------------------------------------------


class NotificationRejected(Exception):
    """A signed message (notification or response) failed a check; `reason` is for the logs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MissingHeader(NotificationRejected):
    """A Wechatpay-* header is absent, empty or unusable."""


class UnknownSerial(NotificationRejected):
    """Wechatpay-Serial names no platform key we hold."""


class StaleNotification(NotificationRejected):
    """Wechatpay-Timestamp is more than five minutes away from our clock."""


class BadSignature(NotificationRejected):
    """The platform signature does not verify over timestamp, nonce and the exact body."""


class MalformedNotification(NotificationRejected):
    """The envelope or the decrypted transaction is not the JSON the protocol promises."""


class UnexpectedEvent(NotificationRejected):
    """Not a TRANSACTION.SUCCESS notification."""


class UnsupportedAlgorithm(NotificationRejected):
    """The resource is not AEAD_AES_256_GCM encrypted."""


class DecryptionFailed(NotificationRejected):
    """The resource does not decrypt and authenticate with our APIv3 key."""


class NotPaid(NotificationRejected):
    """The transaction's trade_state is not SUCCESS."""


class WrongPayee(NotificationRejected):
    """The transaction was paid to another merchant or app."""


class PaymentMismatch(NotificationRejected):
    """The transaction does not match the order we expected it to pay."""


class UnknownOrder(PaymentMismatch):
    pass


class AmountMismatch(PaymentMismatch):
    pass


class CurrencyMismatch(PaymentMismatch):
    pass


class WechatPayError(Exception):
    """An API call did not succeed: WeChat Pay's `code`/`message`, or ours for local failures."""

    def __init__(self, *, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.code = code
        self.message = message
        self.status = status


class ResponseNotVerified(WechatPayError):
    """A 2xx answer whose platform signature did not verify: treated as forged."""


class AuthorizationRejected(Exception):
    """The sandbox platform refused a merchant's Authorization header (the real one answers 401)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transaction:
    """A v3 transaction object (查询订单 answer, or a notification's decrypted resource)."""

    out_trade_no: str
    transaction_id: str | None
    trade_state: str
    amount_total: int
    currency: str
    payer_total: int | None
    success_time: datetime | None
    mchid: str
    appid: str
    # Holds the payer's openid: kept out of repr so it does not land in logs.
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class ExpectedPayment:
    out_trade_no: str
    amount_fen: int
    currency: str = CURRENCY_CNY


def check_expected(transaction: Transaction, expected: ExpectedPayment) -> None:
    """Raise unless the transaction pays exactly the expected order, amount and currency."""
    if transaction.out_trade_no != expected.out_trade_no:
        raise UnknownOrder("out_trade_no is not the expected order")
    if transaction.amount_total != expected.amount_fen:
        raise AmountMismatch(
            f"amount {transaction.amount_total} fen, expected {expected.amount_fen} fen"
        )
    if transaction.currency != expected.currency:
        raise CurrencyMismatch(f"currency {transaction.currency}, expected {expected.currency}")


class _Malformed(ValueError):
    pass


def _str_field(data: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _Malformed(f"{name} is missing or not a string")
    return value


def _int_field(data: Mapping[str, Any], name: str, *, required: bool = True) -> int | None:
    value = data.get(name)
    if value is None and not required:
        return None
    # Money is integer fen: a float (or a bool, which is an int in Python) is refused.
    if type(value) is not int:
        raise _Malformed(f"{name} is missing or not an integer")
    return value


def _transaction_from_dict(data: Any) -> Transaction:
    if not isinstance(data, dict):
        raise _Malformed("transaction is not a JSON object")
    amount = data.get("amount")
    if not isinstance(amount, dict):
        raise _Malformed("amount is missing")
    success_time = _str_field(data, "success_time", required=False)
    try:
        success_at = datetime.fromisoformat(success_time) if success_time else None
    except ValueError as exc:
        raise _Malformed("success_time is not RFC 3339") from exc
    if success_at is not None and success_at.tzinfo is None:
        raise _Malformed("success_time has no time zone")
    return Transaction(
        out_trade_no=_str_field(data, "out_trade_no"),
        transaction_id=_str_field(data, "transaction_id", required=False),
        trade_state=_str_field(data, "trade_state"),
        amount_total=_int_field(amount, "total"),
        currency=_str_field(amount, "currency"),
        payer_total=_int_field(amount, "payer_total", required=False),
        success_time=success_at,
        mchid=_str_field(data, "mchid"),
        appid=_str_field(data, "appid"),
        raw=data,
    )


# --- signing and verification -------------------------------------------------------------------


def _sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def _verify(public_key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def _new_nonce() -> str:
    return secrets.token_hex(16).upper()


def request_sign_message(
    *, method: str, url_path_with_query: str, timestamp: int | str, nonce: str, body: str
) -> str:
    """The five-line string a request signature covers."""
    return f"{method}\n{url_path_with_query}\n{timestamp}\n{nonce}\n{body}\n"


def build_authorization(
    *,
    method: str,
    url_path_with_query: str,
    body: str,
    config: MerchantConfig,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> str:
    """The Authorization header value for one request (body "" for GET)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = _new_nonce() if nonce is None else nonce
    message = request_sign_message(
        method=method,
        url_path_with_query=url_path_with_query,
        timestamp=timestamp,
        nonce=nonce,
        body=body,
    )
    signature = _sign(config.merchant_private_key, message.encode())
    return (
        f'{AUTH_SCHEME} mchid="{config.mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{config.merchant_serial_no}"'
    )


def verify_platform_signature(
    *, headers: Mapping[str, str], body: bytes, config: MerchantConfig, now: int | None = None
) -> None:
    """Check a response's or notification's Wechatpay-* headers against the exact body bytes.

    Raises MissingHeader, UnknownSerial, StaleNotification or BadSignature, in that order.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    values: dict[str, str] = {}
    for name in _REQUIRED_HEADERS:
        value = (lowered.get(name.lower()) or "").strip()
        if not value:
            raise MissingHeader(f"missing header {name}")
        values[name] = value
    public_key = config.platform_key(values[HEADER_SERIAL])
    if public_key is None:
        raise UnknownSerial(f"unknown platform serial {values[HEADER_SERIAL][:64]}")
    timestamp_text = values[HEADER_TIMESTAMP]
    if not timestamp_text.isascii() or not timestamp_text.isdigit():
        raise MissingHeader(f"{HEADER_TIMESTAMP} is not a Unix timestamp")
    now = int(time.time()) if now is None else now
    skew = now - int(timestamp_text)
    if abs(skew) > MAX_CLOCK_SKEW_SECONDS:
        raise StaleNotification(f"timestamp is {skew} s away from now")
    signature_type = lowered.get(HEADER_SIGNATURE_TYPE.lower())
    if signature_type is not None and signature_type != AUTH_SCHEME:
        raise BadSignature(f"unsupported signature type {signature_type[:64]}")
    message = f"{timestamp_text}\n{values[HEADER_NONCE]}\n".encode() + body + b"\n"
    if not _verify(public_key, message, values[HEADER_SIGNATURE]):
        raise BadSignature("platform signature does not verify")


# --- notifications ------------------------------------------------------------------------------


def parse_notification(
    *,
    headers: Mapping[str, str],
    body: bytes,
    config: MerchantConfig,
    now: int | None = None,
    expected: ExpectedPayment | None = None,
) -> Transaction:
    """Verify, decrypt and check a payment notification; return the paid transaction.

    `body` must be the request body exactly as received (Django's `request.body`), never
    re-serialized JSON. Every failure is a NotificationRejected subclass; answer WeChat Pay with
    a 4xx/5xx then, so it retries. Without `expected`, call check_expected after looking the
    order up by `transaction.out_trade_no`.
    """
    verify_platform_signature(headers=headers, body=body, config=config, now=now)
    try:
        envelope = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedNotification("body is not JSON") from exc
    if not isinstance(envelope, dict):
        raise MalformedNotification("body is not a JSON object")
    if envelope.get("event_type") != EVENT_TRANSACTION_SUCCESS:
        raise UnexpectedEvent(f"event_type {str(envelope.get('event_type'))[:64]}")
    resource = envelope.get("resource")
    if not isinstance(resource, dict):
        raise MalformedNotification("resource is missing")
    if resource.get("algorithm") != ALGORITHM_AES_256_GCM:
        raise UnsupportedAlgorithm(f"algorithm {str(resource.get('algorithm'))[:64]}")
    plaintext = _decrypt_resource(resource, api_v3_key=config.api_v3_key)
    try:
        transaction = _transaction_from_dict(json.loads(plaintext))
    except (UnicodeDecodeError, ValueError) as exc:  # _Malformed is a ValueError too
        raise MalformedNotification(f"transaction: {exc}") from exc
    if transaction.trade_state != TRADE_STATE_SUCCESS:
        raise NotPaid(f"trade_state {transaction.trade_state}")
    if transaction.mchid != config.mchid:
        raise WrongPayee("mchid is not ours")
    if transaction.appid != config.appid:
        raise WrongPayee("appid is not ours")
    if expected is not None:
        check_expected(transaction, expected)
    return transaction


def _decrypt_resource(resource: Mapping[str, Any], *, api_v3_key: str) -> bytes:
    ciphertext, nonce = resource.get("ciphertext"), resource.get("nonce")
    associated_data = resource.get("associated_data") or ""
    if not all(isinstance(v, str) for v in (ciphertext, nonce, associated_data)):
        raise MalformedNotification("resource fields are not strings")
    try:
        return AESGCM(api_v3_key.encode()).decrypt(
            nonce.encode(),
            base64.b64decode(ciphertext, validate=True),
            associated_data.encode(),
        )
    except (binascii.Error, ValueError, InvalidTag) as exc:
        raise DecryptionFailed("resource does not decrypt with our APIv3 key") from exc


def encrypt_resource(
    *, plaintext: bytes, api_v3_key: str, associated_data: str, nonce: str
) -> dict[str, str]:
    """The inverse of the decryption above (what WeChat Pay does; used by the sandbox)."""
    ciphertext = AESGCM(api_v3_key.encode()).encrypt(
        nonce.encode(), plaintext, associated_data.encode()
    )
    return {
        "algorithm": ALGORITHM_AES_256_GCM,
        "ciphertext": base64.b64encode(ciphertext).decode("ascii"),
        "associated_data": associated_data,
        "nonce": nonce,
    }


# --- API client ---------------------------------------------------------------------------------


def urllib_transport(
    method: str, url: str, headers: Mapping[str, str], body: bytes
) -> tuple[int, Mapping[str, str], bytes]:
    """The default transport; a non-2xx status is returned, not raised."""
    request = urllib.request.Request(  # noqa: S310 - scheme checked http(s) in MerchantConfig
        url, data=body if method != "GET" else None, method=method, headers=dict(headers)
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()
    except OSError as exc:  # URLError, refused connections and timeouts are all OSErrors
        raise WechatPayError(code="NETWORK_ERROR", message=str(exc)) from exc


def _json_text(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _check_out_trade_no(out_trade_no: str) -> None:
    if not _OUT_TRADE_NO.fullmatch(out_trade_no):
        raise ValueError("out_trade_no must be 1–32 of 0-9 A-Z a-z _ - *")


class WechatPayClient:
    """Direct-merchant (普通商户) calls: H5 order, query and close by out_trade_no."""

    def __init__(
        self,
        config: MerchantConfig,
        transport: Transport | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.transport = transport or urllib_transport
        self.clock = clock

    def create_h5_order(
        self,
        *,
        out_trade_no: str,
        description: str,
        amount_fen: int,
        payer_client_ip: str,
        time_expire: datetime | None = None,
    ) -> str:
        """POST /v3/pay/transactions/h5; returns h5_url for the payer's browser."""
        _check_out_trade_no(out_trade_no)
        if type(amount_fen) is not int or amount_fen <= 0:
            raise ValueError("amount_fen must be a positive integer number of fen")
        if not description or len(description) > 127:
            raise ValueError("description must be 1–127 characters")
        ipaddress.ip_address(payer_client_ip)  # ValueError for anything that is not an IP
        payload: dict[str, Any] = {
            "appid": self.config.appid,
            "mchid": self.config.mchid,
            "description": description,
            "out_trade_no": out_trade_no,
            "notify_url": self.config.notify_url,
            "amount": {"total": amount_fen, "currency": CURRENCY_CNY},
            "scene_info": {"payer_client_ip": payer_client_ip, "h5_info": {"type": "Wap"}},
        }
        if time_expire is not None:
            if time_expire.tzinfo is None:
                raise ValueError("time_expire must be timezone-aware")
            payload["time_expire"] = time_expire.isoformat(timespec="seconds")
        data = self._json_answer(self._request("POST", "/v3/pay/transactions/h5", payload))
        h5_url = data.get("h5_url")
        if not isinstance(h5_url, str) or not h5_url:
            raise WechatPayError(code="MALFORMED_RESPONSE", message="no h5_url in the answer")
        return h5_url

    def query_order(self, out_trade_no: str) -> Transaction:
        """GET /v3/pay/transactions/out-trade-no/{no}?mchid=…; any trade_state is returned."""
        _check_out_trade_no(out_trade_no)
        path = (
            f"/v3/pay/transactions/out-trade-no/{out_trade_no}"
            f"?mchid={quote(self.config.mchid, safe='')}"
        )
        data = self._json_answer(self._request("GET", path, None))
        try:
            return _transaction_from_dict(data)
        except _Malformed as exc:
            raise WechatPayError(code="MALFORMED_RESPONSE", message=str(exc)) from exc

    def close_order(self, out_trade_no: str) -> None:
        """POST …/out-trade-no/{no}/close; WeChat Pay answers 204 No Content."""
        _check_out_trade_no(out_trade_no)
        path = f"/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
        self._request("POST", path, {"mchid": self.config.mchid})

    def _request(self, method: str, path: str, payload: Mapping[str, Any] | None) -> bytes:
        body = "" if payload is None else _json_text(payload)
        headers = {
            "Authorization": build_authorization(
                method=method,
                url_path_with_query=path,
                body=body,
                config=self.config,
                timestamp=int(self.clock()),
            ),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        status, answer_headers, answer = self.transport(
            method, self.config.api_base + path, headers, body.encode()
        )
        if not 200 <= status < 300:
            raise _error_from_answer(status, answer)
        try:
            verify_platform_signature(
                headers=answer_headers, body=answer, config=self.config, now=int(self.clock())
            )
        except NotificationRejected as exc:
            raise ResponseNotVerified(
                code="RESPONSE_NOT_VERIFIED", message=exc.reason, status=status
            ) from exc
        return answer

    @staticmethod
    def _json_answer(answer: bytes) -> dict[str, Any]:
        try:
            data = json.loads(answer)
        except (UnicodeDecodeError, ValueError) as exc:
            raise WechatPayError(code="MALFORMED_RESPONSE", message="answer is not JSON") from exc
        if not isinstance(data, dict):
            raise WechatPayError(code="MALFORMED_RESPONSE", message="answer is not an object")
        return data


def _error_from_answer(status: int, answer: bytes) -> WechatPayError:
    try:
        data = json.loads(answer)
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        message = data.get("message")
        return WechatPayError(
            code=data["code"], message=message if isinstance(message, str) else "", status=status
        )
    return WechatPayError(
        code=f"HTTP_{status}", message=answer[:200].decode(errors="replace"), status=status
    )


# --- sandbox platform ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxPlatform:
    """WeChat Pay's side of the protocol, with its own platform key, for offline runs and tests.

    Give the merchant config `{platform.serial: platform.public_key()}` and everything it signs
    verifies exactly as a real platform message would.
    """

    private_key: rsa.RSAPrivateKey = field(repr=False)
    serial: str

    @classmethod
    def generate(cls) -> SandboxPlatform:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        # Real platform certificate serials are 40 upper-case hex digits.
        return cls(private_key=key, serial=secrets.token_hex(20).upper())

    @classmethod
    def from_pem(cls, pem: bytes, *, serial: str, password: bytes | None = None) -> SandboxPlatform:
        key = serialization.load_pem_private_key(pem, password=password)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the sandbox platform key must be RSA")
        return cls(private_key=key, serial=serial)

    def private_key_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_key(self) -> rsa.RSAPublicKey:
        return self.private_key.public_key()

    def sign(
        self, body: bytes, *, timestamp: int | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """The Wechatpay-* headers for a message body, as on a response or notification."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = _new_nonce() if nonce is None else nonce
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        return {
            HEADER_SERIAL: self.serial,
            HEADER_TIMESTAMP: str(timestamp),
            HEADER_NONCE: nonce,
            HEADER_SIGNATURE: _sign(self.private_key, message),
            HEADER_SIGNATURE_TYPE: AUTH_SCHEME,
        }

    def sign_response(
        self, status: int, body: bytes, *, timestamp: int | None = None
    ) -> dict[str, str]:
        if status == 204 and body:
            raise ValueError("a 204 answer has no body")
        headers = self.sign(body, timestamp=timestamp)
        headers["Request-ID"] = str(uuid.uuid4())
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return headers

    def sign_notification(
        self,
        *,
        transaction: Mapping[str, Any],
        api_v3_key: str,
        event_id: str | None = None,
        timestamp: int | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """A TRANSACTION.SUCCESS notification: (headers, body) exactly as WeChat Pay posts it."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        alphabet = string.ascii_letters + string.digits
        resource = encrypt_resource(
            plaintext=_json_text(transaction).encode(),
            api_v3_key=api_v3_key,
            associated_data="transaction",
            nonce="".join(secrets.choice(alphabet) for _ in range(12)),
        )
        envelope = {
            "id": event_id or str(uuid.uuid4()),
            "create_time": datetime.fromtimestamp(timestamp, tz=_CHINA_TZ).isoformat(),
            "resource_type": "encrypt-resource",
            "event_type": EVENT_TRANSACTION_SUCCESS,
            "summary": "支付成功",
            "resource": {"original_type": "transaction", **resource},
        }
        body = _json_text(envelope).encode()
        return self.sign(body, timestamp=timestamp), body

    @staticmethod
    def paid_transaction(
        *,
        config: MerchantConfig,
        out_trade_no: str,
        amount_fen: int,
        transaction_id: str | None = None,
        success_time: datetime | None = None,
    ) -> dict[str, Any]:
        """A realistic SUCCESS transaction object for an H5 payment to `config`'s merchant."""
        paid_at = success_time or datetime.now(tz=_CHINA_TZ)
        return {
            "mchid": config.mchid,
            "appid": config.appid,
            "out_trade_no": out_trade_no,
            "transaction_id": transaction_id or f"4200{secrets.randbelow(10**24):024d}",
            "trade_type": "MWEB",
            "trade_state": TRADE_STATE_SUCCESS,
            "trade_state_desc": "支付成功",
            "bank_type": "OTHERS",
            "attach": "",
            "success_time": paid_at.isoformat(timespec="seconds"),
            "payer": {"openid": "sandbox-openid"},
            "amount": {
                "total": amount_fen,
                "payer_total": amount_fen,
                "currency": CURRENCY_CNY,
                "payer_currency": CURRENCY_CNY,
            },
        }

    @staticmethod
    def verify_authorization(
        method: str,
        path: str,
        body: str,
        header: str,
        merchant_public_key: rsa.RSAPublicKey,
        *,
        now: int | None = None,
    ) -> dict[str, str]:
        """Check a request's Authorization as WeChat Pay does; return its mchid, serial_no, ….

        Raises AuthorizationRejected (the real platform answers 401 SIGN_ERROR).
        """
        scheme, _, params = header.partition(" ")
        if scheme != AUTH_SCHEME:
            raise AuthorizationRejected("unknown authorization scheme")
        fields = dict(_AUTH_PARAM.findall(params))
        missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - fields.keys()
        if missing:
            raise AuthorizationRejected(f"missing {', '.join(sorted(missing))}")
        if not fields["timestamp"].isascii() or not fields["timestamp"].isdigit():
            raise AuthorizationRejected("timestamp is not a Unix timestamp")
        now = int(time.time()) if now is None else now
        if abs(now - int(fields["timestamp"])) > MAX_CLOCK_SKEW_SECONDS:
            raise AuthorizationRejected("timestamp expired")
        message = request_sign_message(
            method=method,
            url_path_with_query=path,
            timestamp=fields["timestamp"],
            nonce=fields["nonce_str"],
            body=body,
        )
        if not _verify(merchant_public_key, message.encode(), fields["signature"]):
            raise AuthorizationRejected("sign not match")
        return fields
