"""(三)数字证书增加员工数量 【新增授权数量】: the form, and the services that write a top-up.

The certificate's administrator (its holder) picks 新增授权数量 and 年限 → a SEAT_TOPUP order
priced on the server (100 CNY × seats × years) → 【支付】 by WeChat Pay → payments.services
grants the seats through `topup_seats_grant`, in the transaction that records the payment.

Seats belong to the enterprise (its credit code), not to one certificate: unexpired seats carry
over to the enterprise's next certificate (certificates.selectors.seats_total).
"""

import logging
from dataclasses import dataclass

from django import forms
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from certificates.authority import _years_after
from certificates.models import MAX_YEARS, EnterpriseCertificate, SeatGrant

from . import pricing
from .models import Order
from .services import order_create
from .states import OrderKind, OrderStatus

logger = logging.getLogger(__name__)

MAX_TOPUP_SEATS = 500
YEAR_CHOICES = [(y, f"{y}年") for y in range(1, MAX_YEARS + 1)]


class TopupError(Exception):
    """The top-up cannot be made; `message` is shown on the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Quote:
    seats: int
    years: int
    amount_fen: int


class TopupForm(forms.Form):
    seats = forms.IntegerField(
        label="新增授权数量",
        min_value=1,
        max_value=MAX_TOPUP_SEATS,
        initial=1,
        error_messages={
            "required": "请输入新增授权数量",
            "invalid": "请输入整数",
            "min_value": "新增授权数量至少为 1",
            "max_value": f"新增授权数量一次最多 {MAX_TOPUP_SEATS} 个",
        },
        widget=forms.NumberInput(
            attrs={"inputmode": "numeric", "min": 1, "max": MAX_TOPUP_SEATS, "step": 1}
        ),
    )
    years = forms.TypedChoiceField(
        label="年限",
        coerce=int,
        choices=YEAR_CHOICES,
        initial=1,
        error_messages={
            "required": "请选择年限",
            "invalid_choice": f"年限须为 1–{MAX_YEARS} 年",
        },
    )

    def quote(self) -> Quote | None:
        """The price of the choice (of the initial one while unbound), computed here; None
        while the choice is invalid (the page shows a dash and why)."""
        if not self.is_bound:
            seats, years = self.fields["seats"].initial, self.fields["years"].initial
        elif self.is_valid():
            seats, years = self.cleaned_data["seats"], self.cleaned_data["years"]
        else:
            return None
        return Quote(
            seats=seats,
            years=years,
            amount_fen=pricing.seat_topup_price_fen(seats=seats, years=years),
        )

    def first_error(self) -> str:
        for name in self.fields:
            if self.errors.get(name):
                return self.errors[name][0]
        return ""


def topup_refusal(certificate: EnterpriseCertificate) -> str | None:
    """Why seats cannot be added to this certificate now, if they cannot."""
    if certificate.status == EnterpriseCertificate.Status.PENDING:
        return "证书尚在签发中，签发完成后才能新增授权数量"
    if certificate.status == EnterpriseCertificate.Status.REVOKED:
        return "该证书已注销，不能新增授权数量"
    if certificate.status == EnterpriseCertificate.Status.EXPIRED or (
        certificate.not_after is not None and certificate.not_after <= timezone.now()
    ):
        return "该证书已过期，不能新增授权数量；请重新办理数字证书，未到期的授权数量将自动延续"
    return None


def topup_order_create(
    *, certificate: EnterpriseCertificate, actor: User, seats: int, years: int
) -> Order:
    """Create the 待支付 SEAT_TOPUP order for `seats` × `years` on the holder's valid certificate.

    The amount is computed here, from the seats and years only. The enterprise, credit code and
    invoice details come from the certificate and the order it was issued for, so the invoice of
    the top-up is made out like the certificate's.
    """
    if certificate.holder_id != actor.pk:
        raise TopupError("只有证书管理员可以新增授权数量")
    if not 1 <= seats <= MAX_TOPUP_SEATS:
        raise TopupError(f"新增授权数量须为 1–{MAX_TOPUP_SEATS}")
    with transaction.atomic():
        # Read the status under a lock: a certificate revoked or expired at this moment is not
        # topped up with a status read a moment before.
        locked = (
            EnterpriseCertificate.objects.select_for_update(of=("self",))
            .select_related("order", "ca")
            .get(pk=certificate.pk)
        )
        refusal = topup_refusal(locked)
        if refusal:
            raise TopupError(refusal)
        issued_for = locked.order
        try:
            return order_create(
                kind=OrderKind.SEAT_TOPUP,
                applicant=actor,
                ca=locked.ca,
                package=None,
                years=years,
                extra_seats=seats,
                target_certificate=locked,
                enterprise_name=locked.enterprise_name,
                credit_code=locked.credit_code,
                legal_rep_name=locked.legal_rep_name,
                applicant_phone=actor.phone,
                applicant_email=issued_for.applicant_email,
                invoice_title=issued_for.invoice_title or locked.enterprise_name,
                invoice_tax_id=issued_for.invoice_tax_id or locked.credit_code,
                invoice_email=issued_for.invoice_email or issued_for.applicant_email,
                invoice_remark=issued_for.invoice_remark,
            )
        except pricing.PriceError as exc:
            raise TopupError(str(exc)) from exc


def topup_pending_for(*, certificate: EnterpriseCertificate, user: User) -> Order | None:
    """The user's newest top-up of this certificate still waiting for its payment."""
    return (
        Order.objects.filter(
            kind=OrderKind.SEAT_TOPUP,
            target_certificate=certificate,
            applicant=user,
            status=OrderStatus.AWAITING_PAYMENT,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def topup_seats_grant(*, order: Order) -> SeatGrant | None:
    """Grant the paid top-up's seats to its enterprise, from now for the order's years.

    Called by payments.services._order_paid inside the transaction that records the payment and
    completes the order, so the grant exists exactly when the order is 已完成. The OneToOne on
    SeatGrant.order is the backstop: a second grant for one order cannot be written.
    """
    if not order.credit_code or not order.extra_seats or not order.years:
        # Every top-up made by topup_order_create has all three: this one was made by hand.
        logger.error(
            "top-up %s was paid but names no enterprise, seats or years; no seats granted "
            "(grant them by hand)",
            order.number,
        )
        return None
    now = timezone.now()
    grant = SeatGrant.objects.create(
        credit_code=order.credit_code,
        order=order,
        seats=order.extra_seats,
        starts_at=now,
        expires_at=_years_after(now, order.years),
    )
    logger.info(
        "top-up %s: %s seats granted to %s until %s",
        order.number,
        grant.seats,
        grant.credit_code,
        grant.expires_at.isoformat(),
    )
    return grant
