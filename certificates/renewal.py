"""续期 (renewal): in its last 30 days, a certificate's administrator applies for its successor.

A renewal is a new-certificate application like any other — agreement, the legal
representative's authorization, payment, issuance — started from the certificate:
`renewal_start` prefills the draft from the certificate's original order and sets
`Order.renewal_of`. orders.services._blocking_for lets that draft through while the old
certificate is still valid (for the same credit code only).

When the renewal's certificate is issued, `renewal_complete` — called by
certificates.services.certificate_issue_for_order inside the transaction that makes the new
certificate valid, before it does — supersedes the old certificate (有效 → 已续期, revoked with
reason superseded, so it appears on the CRL and OCSP answers revoked) and copies its authorized
employees to the new one. One certificate is valid at any moment: the database's partial unique
index on valid certificates checks it at each statement.

Seats belong to the enterprise (SeatGrant by credit code) and need no copying. Those that end
with the old certificate (bought with it, or top-ups ending before it) would lapse a few days
after the renewal and take employees with them (certificates.expiry), so the renewal draft
proposes buying as many again for the new period; the applicant may change the number.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .models import EmployeeAuthorization, EnterpriseCertificate
from .selectors import seat_grants_active

if TYPE_CHECKING:
    from accounts.models import User
    from orders.models import Order

logger = logging.getLogger(__name__)

RENEWAL_WINDOW = timedelta(days=30)
RENEWAL_YEARS = 1


class RenewalError(Exception):
    """The renewal cannot start; `message` is shown on the page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def renewal_refusal(certificate: EnterpriseCertificate, *, actor: User, now=None) -> str | None:
    """Why this user cannot renew this certificate now, or None when they can: only its
    administrator, only a valid certificate, only in its last RENEWAL_WINDOW."""
    now = now or timezone.now()
    if certificate.holder_id != actor.pk:
        return "只有证书管理员可以续期"
    if certificate.status != EnterpriseCertificate.Status.VALID or certificate.not_after is None:
        return f"证书当前状态为「{certificate.get_status_display()}」，不能续期"
    if certificate.not_after <= now:
        return "证书已过期，请重新办理数字证书"
    if certificate.not_after - now > RENEWAL_WINDOW:
        opens = timezone.localtime(certificate.not_after - RENEWAL_WINDOW)
        return f"证书到期前 30 天内可以续期（{opens:%Y-%m-%d} 起）"
    return None


def renewal_open_for(certificate: EnterpriseCertificate) -> Order | None:
    """The certificate's renewal application that is still going on (a draft to resume, or
    one submitted and not yet issued), if any."""
    from orders.models import Order
    from orders.states import OPEN_STATUSES

    return (
        Order.objects.filter(renewal_of=certificate, status__in=OPEN_STATUSES)
        .order_by("-created_at")
        .first()
    )


def renewal_seats(certificate: EnterpriseCertificate, *, now=None) -> int:
    """Extra seats the enterprise holds now that end no later than the certificate: the ones a
    renewal buys again so that nobody loses their authorization when they end."""
    lapsing = seat_grants_active(credit_code=certificate.credit_code, at=now).filter(
        expires_at__lte=certificate.not_after
    )
    return lapsing.aggregate(total=Sum("seats"))["total"] or 0


def _prefill(certificate: EnterpriseCertificate, *, now) -> dict:
    """The new draft's fields, from the certificate's original order: the same enterprise and
    legal representative, applicant contact and invoice details, the same CA and package while
    they are still offered (otherwise the applicant picks them), one year."""
    original = certificate.order
    fields = {
        "applicant_phone": original.applicant_phone,
        "applicant_email": original.applicant_email,
        "enterprise_name": certificate.enterprise_name,
        "credit_code": certificate.credit_code,
        "legal_rep_name": original.legal_rep_name,
        "legal_rep_id_number": original.legal_rep_id_number,
        "enterprise_address": original.enterprise_address,
        "invoice_title": original.invoice_title,
        "invoice_tax_id": original.invoice_tax_id,
        "invoice_email": original.invoice_email,
        "invoice_remark": original.invoice_remark,
        "extra_seats": renewal_seats(certificate, now=now),
        "ca": None,
        "package": None,
        "years": None,
    }
    package = original.package
    if package is not None and package.is_active and package.ca.is_active:
        fields["ca"] = package.ca
        fields["package"] = package
        fields["years"] = min(max(RENEWAL_YEARS, package.min_years), package.max_years)
    return fields


@transaction.atomic
def renewal_start(*, certificate: EnterpriseCertificate, actor: User) -> Order:
    """【续期】: the certificate's renewal application — the one already going on, or a new
    draft prefilled from the certificate's original order. Raises RenewalError."""
    from orders.services import order_create
    from orders.states import OrderKind

    # Locked: two taps on 续期 make one draft.
    locked = (
        EnterpriseCertificate.objects.select_for_update(of=("self",))
        .select_related("order__package__ca")
        .get(pk=certificate.pk)
    )
    now = timezone.now()
    refusal = renewal_refusal(locked, actor=actor, now=now)
    if refusal:
        raise RenewalError(refusal)
    existing = renewal_open_for(locked)
    if existing is not None:
        return existing
    fields = _prefill(locked, now=now)
    order = order_create(
        kind=OrderKind.NEW_CERTIFICATE,
        applicant=actor,
        renewal_of=locked,
        **fields,
    )
    logger.info("renewal %s started for certificate %s", order.number, locked.serial_hex)
    return order


@transaction.atomic
def renewal_complete(*, new_certificate: EnterpriseCertificate) -> EnterpriseCertificate | None:
    """The renewal's certificate is being issued: supersede the certificate it renews and copy
    that certificate's authorized employees to it. Returns the old certificate, or None when
    the new one's order is not a renewal.

    Call inside the transaction that makes `new_certificate` valid, *before* it does: the old
    certificate must leave 有效 first (one valid certificate per credit code, checked by the
    database at each statement). The move 有效 → 已续期 is a guarded update: an old certificate
    that was revoked or expired meanwhile keeps its status, and its employees are copied all the
    same. Once committed, the old certificate's CRL is signed again.
    """
    from orders.models import Order

    from .revocation import crl_after_revocation

    order = (
        Order.objects.only("renewal_of", "applicant", "number")
        .filter(pk=new_certificate.order_id)
        .first()
    )
    if order is None or order.renewal_of_id is None:
        return None
    old = EnterpriseCertificate.objects.select_for_update(of=("self",)).get(pk=order.renewal_of_id)
    if old.credit_code != new_certificate.credit_code:
        # _blocking_for refuses such a renewal; should one get here, it must not end another
        # enterprise's certificate.
        logger.error(
            "renewal %s: credit code differs from certificate %s; nothing superseded",
            order.number,
            old.serial_hex,
        )
        return None
    now = timezone.now().replace(microsecond=0)  # X.509 times are whole seconds
    superseded = EnterpriseCertificate.objects.filter(
        pk=old.pk, status=EnterpriseCertificate.Status.VALID
    ).update(
        status=EnterpriseCertificate.Status.SUPERSEDED,
        revoked_at=now,
        revocation_reason=EnterpriseCertificate.RevocationReason.SUPERSEDED,
        revoked_by_id=order.applicant_id,
    )
    already = set(
        new_certificate.employees.filter(removed_at__isnull=True).values_list("phone", flat=True)
    )
    copies = [
        EmployeeAuthorization(
            certificate=new_certificate,
            name=employee.name,
            phone=employee.phone,
            added_by_id=employee.added_by_id,
        )
        for employee in old.employees.filter(removed_at__isnull=True).order_by("added_at", "id")
        if employee.phone not in already
    ]
    EmployeeAuthorization.objects.bulk_create(copies)
    if superseded:
        transaction.on_commit(partial(crl_after_revocation, old.ca_id), robust=True)
    logger.info(
        "renewal %s: certificate %s %s, %d employee(s) copied",
        order.number,
        old.serial_hex,
        "superseded" if superseded else f"left {old.status}",
        len(copies),
    )
    old.refresh_from_db()
    return old
