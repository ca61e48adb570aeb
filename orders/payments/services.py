"""Everything that writes payments: starting one, recording one, and a CA's merchant account.

`payment_settle` is the one place a Payment is created, whether the news came from WeChat Pay's
notification or from the settle sweep's query. It is idempotent: WeChat Pay delivers a
notification until it is acknowledged, and a notification and the sweep can race.
"""

import logging
from functools import partial

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.db import IntegrityError
from django.db import transaction as db_transaction
from django.utils import timezone

from accounts.models import User
from certificates.keys import key_backend
from certificates.models import CAInstitution
from orders.models import Order, Payment, WechatPayMerchant
from orders.services import order_transition
from orders.states import OrderKind, OrderStatus
from orders.wechatpay import (
    TRADE_STATE_SUCCESS,
    ExpectedPayment,
    MalformedNotification,
    NotPaid,
    SandboxPlatform,
    Transaction,
    UnknownOrder,
    WrongPayee,
    check_expected,
)

from .providers import PaymentStart, merchant_secret_context, payment_provider

logger = logging.getLogger(__name__)

ACTOR_LABEL = "微信支付"
# The status in which each kind of order waits for its payment, and the one payment moves it to.
PAYABLE_STATUS = {
    OrderKind.NEW_CERTIFICATE: OrderStatus.AUTHORIZED,
    OrderKind.SEAT_TOPUP: OrderStatus.AWAITING_PAYMENT,
}
PAID_STATUS = {
    OrderKind.NEW_CERTIFICATE: OrderStatus.ISSUING,
    OrderKind.SEAT_TOPUP: OrderStatus.COMPLETED,
}


class PaymentNotAllowed(Exception):
    """The order cannot be paid now; `message` is shown to the applicant."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def payment_start(*, order: Order, actor: User, client_ip: str) -> PaymentStart:
    """Check that the applicant may pay the order now, and open the payment at the provider.

    Records when the applicant was sent to pay (the settle sweep queries from then on) with a
    guarded update, so an order that moved meanwhile is not marked.
    """
    if order.applicant_id != actor.pk:
        raise PaymentNotAllowed("只有申请人本人可以支付该订单")
    payable = PAYABLE_STATUS[order.kind]
    if order.status != payable:
        raise PaymentNotAllowed(f"订单当前状态为「{order.get_status_display()}」，不能支付")
    if Payment.objects.filter(order=order).exists():
        raise PaymentNotAllowed("该订单已支付，请勿重复支付")
    if not WechatPayMerchant.objects.filter(ca_id=order.ca_id).exists():
        raise PaymentNotAllowed("该证书机构暂未开通微信支付，请联系客服")
    # The provider call goes over the network: no transaction or row lock is held across it.
    started = payment_provider().start(order=order, client_ip=client_ip)
    now = timezone.now()
    updated = Order.objects.filter(pk=order.pk, status=payable).update(
        payment_requested_at=now, updated_at=now
    )
    if updated != 1:
        raise PaymentNotAllowed("订单状态已变化，请刷新页面后重试")
    order.payment_requested_at = now
    order.updated_at = now
    return started


def _order_for_update(number: str) -> Order:
    """The order row, locked until the transaction ends: settlements of one order queue here."""
    try:
        return Order.objects.select_for_update().get(number=number)
    except Order.DoesNotExist:
        raise UnknownOrder(f"no order {number[:32]}") from None


def payment_settle(*, order_number: str, transaction: Transaction, source: str) -> Payment:
    """Record a successful payment of an order and move the order on, exactly once.

    Raises a wechatpay.NotificationRejected subclass (UnknownOrder, AmountMismatch,
    CurrencyMismatch, WrongPayee, NotPaid, MalformedNotification) when the transaction does not
    pay this order to its CA; the caller logs it. A repeat of the recorded transaction returns
    the recorded Payment and changes nothing; a *different* transaction for an already paid order
    is logged as an error (the payer paid twice and needs a refund) and changes nothing either.
    """
    # The common repeat (WeChat retries the same notification up to 15 times) is answered from
    # the recorded row, without a lock or a write: the very same transaction id on this order.
    recorded = (
        Payment.objects.filter(out_trade_no=order_number, transaction_id=transaction.transaction_id)
        .exclude(transaction_id="")
        .first()
    )
    if recorded is not None:
        return _payment_repeated(recorded, transaction=transaction, source=source)
    with db_transaction.atomic():
        order = _order_for_update(order_number)
        check_expected(transaction, ExpectedPayment(order.number, order.amount_fen))
        merchant = WechatPayMerchant.objects.filter(ca_id=order.ca_id).first()
        if merchant is None or transaction.mchid != merchant.mchid:
            raise WrongPayee("mchid is not the order's CA")
        if transaction.appid != merchant.appid:
            raise WrongPayee("appid is not the order's CA")
        if transaction.trade_state != TRADE_STATE_SUCCESS:
            raise NotPaid(f"trade_state {transaction.trade_state}")
        if not transaction.transaction_id:
            raise MalformedNotification("transaction_id is missing")

        existing = Payment.objects.filter(order=order).first()
        if existing is not None:
            return _payment_repeated(existing, transaction=transaction, source=source)
        try:
            # A savepoint: the unique constraints are the backstop behind the row lock.
            with db_transaction.atomic():
                payment = Payment.objects.create(
                    order=order,
                    provider=payment_provider().code,
                    out_trade_no=transaction.out_trade_no,
                    transaction_id=transaction.transaction_id,
                    amount_fen=transaction.amount_total,
                    currency=transaction.currency,
                    payee_mchid=transaction.mchid,
                    paid_at=transaction.success_time or timezone.now(),
                    source=source,
                )
        except IntegrityError:
            existing = Payment.objects.filter(order=order).first()
            if existing is None:
                # The transaction id is recorded on another order: not ours to resolve here.
                raise
            return _payment_repeated(existing, transaction=transaction, source=source)
        _order_paid(order, payment=payment)
        logger.info(
            "payment recorded: order %s, transaction %s, %s fen, via %s",
            order.number,
            payment.transaction_id,
            payment.amount_fen,
            source,
        )
    return payment


def _payment_repeated(existing: Payment, *, transaction: Transaction, source: str) -> Payment:
    if existing.transaction_id == transaction.transaction_id:
        logger.info(
            "payment already recorded: order %s, transaction %s (again via %s)",
            existing.out_trade_no,
            existing.transaction_id,
            source,
        )
    else:
        logger.error(
            "order %s was paid twice: recorded transaction %s, now transaction %s for %s fen "
            "(via %s); the second payment needs a refund",
            existing.out_trade_no,
            existing.transaction_id,
            transaction.transaction_id,
            transaction.amount_total,
            source,
        )
    return existing


def _order_paid(order: Order, *, payment: Payment) -> None:
    """Move the freshly paid order on: queue issuance for a new certificate; for a top-up,
    grant its seats and queue its invoice."""
    if order.status != PAYABLE_STATUS[order.kind]:
        # The money arrived anyway (e.g. the order was cancelled while the applicant paid): the
        # Payment stays recorded as the fact it is, and someone has to refund or resume by hand.
        logger.error(
            "order %s is %s but transaction %s paid it; the order was not moved "
            "(refund or resume it by hand)",
            order.number,
            order.status,
            payment.transaction_id,
        )
        return
    if order.kind == OrderKind.NEW_CERTIFICATE:
        order_transition(
            order=order,
            to=PAID_STATUS[order.kind],
            actor_label=ACTOR_LABEL,
            reason=f"支付成功 {payment.transaction_id}",
        )
        # robust: the payment is committed whatever happens here; should queueing fail (broker
        # down), the order waits in 签发中 for the periodic certificates_issue_stuck task.
        db_transaction.on_commit(partial(_issuance_queue, order.pk), robust=True)
    else:
        from invoices.tasks import invoice_render
        from orders.topup import topup_seats_grant

        # A paid top-up is complete, and its seats are granted in this same transaction: the
        # grant and 已完成 are written together or not at all, and a repeated notification
        # finds the Payment above and never reaches here (SeatGrant.order is one-to-one too).
        order_transition(
            order=order, to=PAID_STATUS[order.kind], actor_label=ACTOR_LABEL, reason="支付成功"
        )
        topup_seats_grant(order=order)
        # robust: as for issuance; a lost queueing is caught by invoices_render_missing.
        db_transaction.on_commit(partial(invoice_render.delay, order_id=order.pk), robust=True)


def _issuance_queue(order_id: int) -> None:
    from certificates.tasks import certificate_issue

    certificate_issue.delay(order_id)


# --- merchant accounts ------------------------------------------------------------------------


def _public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@db_transaction.atomic
def wechatpay_merchant_create(
    *,
    ca: CAInstitution,
    mchid: str,
    appid: str,
    merchant_serial: str,
    merchant_private_key: rsa.RSAPrivateKey,
    api_v3_key: str,
    platform_serial: str,
    platform_public_key: rsa.RSAPublicKey,
    sandbox_platform: SandboxPlatform | None = None,
) -> WechatPayMerchant:
    """Store a CA's merchant account, its secrets encrypted and bound to the mchid.

    For the sandbox provider pass `sandbox_platform`: its private key is stored too (it signs
    the cashier's notifications), and its public key must be `platform_public_key`.
    """
    if len(api_v3_key.encode()) != 32:
        raise ValueError("the APIv3 key must be exactly 32 bytes")
    if sandbox_platform is not None and (
        sandbox_platform.serial != platform_serial
        or sandbox_platform.public_key().public_numbers() != platform_public_key.public_numbers()
    ):
        raise ValueError("the sandbox platform is not the configured platform key")
    backend = key_backend()
    context = merchant_secret_context(mchid)
    return WechatPayMerchant.objects.create(
        ca=ca,
        mchid=mchid,
        appid=appid,
        merchant_serial=merchant_serial,
        encrypted_merchant_key=backend.wrap(merchant_private_key, context=context),
        encrypted_api_v3_key=backend.seal_secret(api_v3_key.encode(), context=context),
        platform_serial=platform_serial,
        platform_public_key_pem=_public_key_pem(platform_public_key),
        encrypted_sandbox_platform_key=(
            backend.wrap(sandbox_platform.private_key, context=context)
            if sandbox_platform is not None
            else None
        ),
    )
