"""WeChat Pay behind one provider interface (setting YQ_PAYMENT_PROVIDER).

Two implementations speak the same WeChat Pay API v3 (orders.wechatpay):

* `WechatPayProvider` places H5 orders, queries and closes them at api.mch.weixin.qq.com.
* `SandboxWechatPayProvider` sends the applicant to a local cashier page instead; its
  【确认支付】 has the CA's sandbox platform sign and encrypt a real v3 notification, which is
  delivered to our own notify endpoint, so the whole verification path runs offline.

Each CA is the payee of its own orders: its `WechatPayMerchant` row holds the merchant id, keys
and platform key, its secrets encrypted by certificates.keys and bound to the mchid. WeChat Pay
posts notifications to a per-CA URL (/pay/wechat/notify/<ca_code>/), so the endpoint knows whose
keys verify a message before it reads a byte of it.

This module must stay importable before Django's apps are ready: production settings import the
configured class to refuse sandbox providers. Models are only touched through the objects
passed in.
"""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

from certificates.keys import key_backend
from orders import wechatpay
from orders.wechatpay import MerchantConfig, SandboxPlatform, Transaction, WechatPayClient

if TYPE_CHECKING:
    from certificates.models import CAInstitution
    from orders.models import Order, WechatPayMerchant

# What the payer sees on the WeChat Pay page and in their bill (at most 127 characters).
DESCRIPTION_PREFIX = "粤企签数字证书-"


@dataclass(frozen=True)
class PaymentStart:
    """Where to send the applicant's browser to pay."""

    redirect_url: str


class PaymentProvider:
    sandbox: ClassVar[bool] = True
    # Written on each Payment row, so demo payments are never mistaken for real money.
    code: ClassVar[str] = ""

    def start(self, *, order: Order, client_ip: str) -> PaymentStart:
        raise NotImplementedError

    def parse_notification(
        self, *, ca: CAInstitution, headers: dict[str, str], body: bytes
    ) -> Transaction:
        """Verify and decrypt a notification posted to `ca`'s notify URL.

        Raises wechatpay.NotificationRejected (a subclass saying why).
        """
        raise NotImplementedError

    def query(self, *, order: Order) -> Transaction | None:
        """The order's successful transaction, or None while it is not paid."""
        raise NotImplementedError

    def close(self, *, order: Order) -> None:
        """Make the order unpayable at the provider (before cancelling it)."""
        raise NotImplementedError


def payment_provider() -> PaymentProvider:
    return import_string(settings.YQ_PAYMENT_PROVIDER)()


# --- merchant configuration -------------------------------------------------------------------


def merchant_secret_context(mchid: str) -> bytes:
    """What every secret of a merchant is bound to: a blob copied to another merchant is dead."""
    return mchid.encode()


def notify_url(ca: CAInstitution) -> str:
    return settings.YQ_PUBLIC_BASE_URL + reverse("payments:wechat_notify", args=[ca.code])


def merchant_config(merchant: WechatPayMerchant) -> MerchantConfig:
    """The protocol's view of a CA's merchant account, its secrets decrypted."""
    return _merchant_config(
        mchid=merchant.mchid,
        appid=merchant.appid,
        merchant_serial=merchant.merchant_serial,
        encrypted_merchant_key=bytes(merchant.encrypted_merchant_key),
        encrypted_api_v3_key=bytes(merchant.encrypted_api_v3_key),
        platform_serial=merchant.platform_serial,
        platform_public_key_pem=merchant.platform_public_key_pem,
        notify_url=notify_url(merchant.ca),
        api_base=settings.YQ_WECHATPAY_API_BASE,
    )


# Loading an RSA private key checks it (~40 ms), which would dominate every notification. The
# cache is keyed by the stored values themselves — each encryption has a fresh nonce — so a
# changed key or account is a miss, never a stale hit.
@functools.lru_cache(maxsize=32)
def _merchant_config(
    *,
    mchid: str,
    appid: str,
    merchant_serial: str,
    encrypted_merchant_key: bytes,
    encrypted_api_v3_key: bytes,
    platform_serial: str,
    platform_public_key_pem: str,
    notify_url: str,
    api_base: str,
) -> MerchantConfig:
    backend = key_backend()
    context = merchant_secret_context(mchid)
    private_key = backend.unwrap(encrypted_merchant_key, context=context)
    if not isinstance(private_key, rsa.RSAPrivateKey):
        raise TypeError(f"merchant {mchid}: the API key is not RSA")
    return MerchantConfig(
        mchid=mchid,
        appid=appid,
        merchant_serial_no=merchant_serial,
        merchant_private_key=private_key,
        api_v3_key=backend.open_secret(encrypted_api_v3_key, context=context).decode(),
        platform_public_keys={
            platform_serial: serialization.load_pem_public_key(platform_public_key_pem.encode())
        },
        notify_url=notify_url,
        api_base=api_base,
    )


def sandbox_platform(merchant: WechatPayMerchant) -> SandboxPlatform:
    """The sandbox's stand-in for WeChat Pay's platform key for this merchant."""
    if not merchant.encrypted_sandbox_platform_key:
        raise LookupError(f"merchant {merchant.mchid} has no sandbox platform key")
    return _sandbox_platform(
        mchid=merchant.mchid,
        serial=merchant.platform_serial,
        encrypted_key=bytes(merchant.encrypted_sandbox_platform_key),
    )


@functools.lru_cache(maxsize=32)
def _sandbox_platform(*, mchid: str, serial: str, encrypted_key: bytes) -> SandboxPlatform:
    key = key_backend().unwrap(encrypted_key, context=merchant_secret_context(mchid))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"merchant {mchid}: the sandbox platform key is not RSA")
    return SandboxPlatform(private_key=key, serial=serial)


def order_return_url(order: Order) -> str:
    """The order's page, where the applicant comes back to after paying."""
    return settings.YQ_PUBLIC_BASE_URL + reverse("orders:detail", args=[order.number])


# --- the providers ----------------------------------------------------------------------------


class WechatPayProvider(PaymentProvider):
    """WeChat Pay API v3, H5 payment (the applicant pays in a phone browser)."""

    sandbox = False
    code = "wechatpay"

    def client(self, order: Order) -> WechatPayClient:
        return WechatPayClient(merchant_config(order.ca.wechatpay))

    def start(self, *, order: Order, client_ip: str) -> PaymentStart:
        h5_url = self.client(order).create_h5_order(
            out_trade_no=order.number,
            description=f"{DESCRIPTION_PREFIX}{order.enterprise_name}"[:127],
            amount_fen=order.amount_fen,
            payer_client_ip=client_ip,
        )
        # H5 payment returns the payer to `redirect_url` when WeChat Pay is done (paid or not);
        # the order page then shows whatever the notification or the sweep has recorded.
        return PaymentStart(h5_url + "&redirect_url=" + quote(order_return_url(order), safe=""))

    def parse_notification(
        self, *, ca: CAInstitution, headers: dict[str, str], body: bytes
    ) -> Transaction:
        return wechatpay.parse_notification(
            headers=headers, body=body, config=merchant_config(ca.wechatpay)
        )

    def query(self, *, order: Order) -> Transaction | None:
        transaction = self.client(order).query_order(order.number)
        if transaction.trade_state != wechatpay.TRADE_STATE_SUCCESS:
            return None
        return transaction

    def close(self, *, order: Order) -> None:
        self.client(order).close_order(order.number)


class SandboxWechatPayProvider(WechatPayProvider):
    """The same protocol offline: a local cashier page plays WeChat Pay's part.

    Notifications are verified by the very code the real provider uses (inherited
    `parse_notification`), with the platform public key stored on the merchant; only the signing
    side is simulated, with the matching private key that the sandbox merchant also holds.

    The sandbox keeps no server-side state of its own: a sandbox payment exists only once its
    notification has been accepted. `query` therefore answers from our own Payment row — None
    until the notification was recorded — which makes the settle sweep a no-op here.
    """

    sandbox = True
    code = "wechatpay_sandbox"

    def start(self, *, order: Order, client_ip: str) -> PaymentStart:
        return PaymentStart(reverse("payments:sandbox_cashier", args=[order.number]))

    def query(self, *, order: Order) -> Transaction | None:
        payment = getattr(order, "payment", None)
        if payment is None:
            return None
        merchant = order.ca.wechatpay
        data = {
            "mchid": payment.payee_mchid,
            "appid": merchant.appid,
            "out_trade_no": payment.out_trade_no,
            "transaction_id": payment.transaction_id,
            "trade_state": wechatpay.TRADE_STATE_SUCCESS,
            "amount": {"total": payment.amount_fen, "currency": payment.currency},
        }
        return Transaction(
            out_trade_no=payment.out_trade_no,
            transaction_id=payment.transaction_id,
            trade_state=wechatpay.TRADE_STATE_SUCCESS,
            amount_total=payment.amount_fen,
            payer_total=payment.amount_fen,
            currency=payment.currency,
            success_time=payment.paid_at,
            mchid=payment.payee_mchid,
            appid=merchant.appid,
            raw=data,
        )

    def close(self, *, order: Order) -> None:
        """Nothing to close: the cashier only takes orders that are still payable."""

    def cashier_notification(
        self, *, order: Order, paid_at: datetime | None = None
    ) -> tuple[dict[str, str], bytes]:
        """What WeChat Pay would post once the applicant paid: (headers, body), signed and
        encrypted with this CA's sandbox platform key and APIv3 key."""
        merchant = order.ca.wechatpay
        config = merchant_config(merchant)
        transaction = SandboxPlatform.paid_transaction(
            config=config,
            out_trade_no=order.number,
            amount_fen=order.amount_fen,
            success_time=paid_at,
        )
        return sandbox_platform(merchant).sign_notification(
            transaction=transaction, api_v3_key=config.api_v3_key
        )

    def cashier_pay(self, *, order: Order) -> None:
        """【确认支付】: deliver the signed notification to our notify endpoint (a task, as
        WeChat Pay's own delivery is asynchronous; see orders.tasks.sandbox_notification_deliver).
        """
        from orders.tasks import sandbox_notification_deliver

        headers, body = self.cashier_notification(order=order)
        sandbox_notification_deliver.delay(
            ca_code=order.ca.code,
            headers=headers,
            body_b64=base64.b64encode(body).decode("ascii"),
        )
