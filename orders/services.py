"""Everything that writes orders. Status moves go through order_transition only."""

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from certificates.models import CAInstitution, Package

from . import pricing
from .models import Order, OrderEvent
from .states import INITIAL_STATUS, OrderKind, allowed_moves


class TransitionNotAllowed(Exception):
    """The transition table has no such move."""


class TransitionConflict(Exception):
    """The order was no longer in the expected status: another request moved it first."""


def order_number_new() -> str:
    """Readable and unique: YQ + local date + 8 random digits, e.g. YQ2026112712345678."""
    day = timezone.localdate().strftime("%Y%m%d")
    return f"YQ{day}{secrets.randbelow(10**8):08d}"


def _event_add(
    *,
    order: Order,
    from_status: str,
    to_status: str,
    actor: User | None,
    actor_label: str,
    reason: str,
) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        actor=actor if actor and actor.is_authenticated else None,
        actor_label=actor_label,
        from_status=from_status,
        to_status=to_status,
        reason=reason[:500],
    )


def order_create(
    *,
    kind: str,
    applicant: User,
    ca: CAInstitution,
    package: Package | None,
    years: int,
    extra_seats: int = 0,
    **fields: Any,
) -> Order:
    """Create an order in its kind's first status, priced on the server, with its first event."""
    if kind == OrderKind.NEW_CERTIFICATE:
        if package is None or package.ca_id != ca.pk:
            raise pricing.PriceError("请选择该证书机构的套餐")
        amount = pricing.new_certificate_price_fen(
            package=package, years=years, extra_seats=extra_seats
        )
    else:
        amount = pricing.seat_topup_price_fen(seats=extra_seats, years=years)
    for _ in range(5):
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    number=order_number_new(),
                    kind=kind,
                    status=INITIAL_STATUS[kind],
                    applicant=applicant,
                    ca=ca,
                    package=package,
                    years=years,
                    extra_seats=extra_seats,
                    amount_fen=amount,
                    **fields,
                )
                _event_add(
                    order=order,
                    from_status="",
                    to_status=order.status,
                    actor=applicant,
                    actor_label="",
                    reason="创建订单",
                )
                return order
        except IntegrityError as exc:
            if "number" not in str(exc):
                raise
    raise RuntimeError("could not allocate a unique order number")


@transaction.atomic
def order_transition(
    *,
    order: Order,
    to: str,
    actor: User | None = None,
    actor_label: str = "",
    reason: str = "",
    **changes: Any,
) -> Order:
    """Move an order from its current status to `to`, once.

    The move must be in the transition table (else TransitionNotAllowed). It is a guarded update
    — UPDATE … WHERE id = … AND status = <the status we read> — so of two racing requests exactly
    one wins; the loser gets TransitionConflict and changes nothing. `changes` are other fields
    written in the same UPDATE. An OrderEvent is written in the same transaction.
    """
    from_status = order.status
    if to not in allowed_moves(order.kind, from_status):
        raise TransitionNotAllowed(f"{order.number}: {from_status} → {to} is not allowed")
    now = timezone.now()
    updated = Order.objects.filter(pk=order.pk, status=from_status).update(
        status=to, updated_at=now, **changes
    )
    if updated != 1:
        raise TransitionConflict(f"{order.number} is no longer {from_status}")
    order.status = to
    order.updated_at = now
    for name, value in changes.items():
        setattr(order, name, value)
    _event_add(
        order=order,
        from_status=from_status,
        to_status=to,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
    )
    return order
