"""Everything that writes orders. Status moves go through order_transition only."""

import secrets
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Identity, User
from certificates.models import AgreementVersion, CAInstitution, Package

from . import audit, pricing
from .enterprise import invoice_remark_required
from .models import Order, OrderEvent
from .states import (
    INITIAL_STATUS,
    OPEN_STATUSES,
    AuthorizationMethod,
    OrderKind,
    OrderStatus,
    allowed_moves,
)


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
    """Append the move to the order history, linked into the audit hash chain (orders.audit).

    The chain lock is held until the caller's transaction commits, so the head read here is the
    newest committed event and no other writer can link to it meanwhile. Every order event on
    the site waits for that lock: make this the last write before the commit.

    No savepoint of its own (two round trips saved on every move): a failure here fails the
    caller's transaction, which is what it must do anyway.
    """
    with transaction.atomic(savepoint=False):
        audit.chain_lock()
        event = OrderEvent(
            order=order,
            actor=actor if actor and actor.is_authenticated else None,
            actor_label=actor_label,
            from_status=from_status,
            to_status=to_status,
            reason=reason[:500],
            created_at=timezone.now(),
            prev_hash=audit.chain_head(),
        )
        event.hash = audit.event_hash(event)
        event.save(force_insert=True)
        return event


def order_create(
    *,
    kind: str,
    applicant: User,
    ca: CAInstitution | None,
    package: Package | None,
    years: int | None,
    extra_seats: int = 0,
    **fields: Any,
) -> Order:
    """Create an order in its kind's first status, priced on the server, with its first event.

    A new-certificate order may start as an empty draft (no CA or package yet, amount 0).
    """
    if kind == OrderKind.NEW_CERTIFICATE and package is None and ca is None:
        amount = 0
    elif kind == OrderKind.NEW_CERTIFICATE:
        if package is None or package.ca_id != ca.pk:
            raise pricing.PriceError("请选择该证书机构的套餐")
        amount = pricing.new_certificate_price_fen(
            package=package, years=years, extra_seats=extra_seats
        )
        fields.setdefault("package_price_per_year_fen", package.price_per_year_fen)
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
    written in the same UPDATE. An OrderEvent is written in the same transaction — the caller's,
    if it has one, whose last write this should be (the event takes the audit chain lock).
    """
    from_status = order.status
    if to not in allowed_moves(order.kind, from_status):
        raise TransitionNotAllowed(f"{order.number}: {from_status} → {to} is not allowed")
    now = timezone.now()
    # No savepoint: nothing is written unless the guarded update wins, and TransitionConflict is
    # raised after the block, so a caller may catch it and go on with its own transaction.
    with transaction.atomic(savepoint=False):
        updated = Order.objects.filter(pk=order.pk, status=from_status).update(
            status=to, updated_at=now, **changes
        )
        if updated == 1:
            _event_add(
                order=order,
                from_status=from_status,
                to_status=to,
                actor=actor,
                actor_label=actor_label,
                reason=reason,
            )
    if updated != 1:
        raise TransitionConflict(f"{order.number} is no longer {from_status}")
    order.status = to
    order.updated_at = now
    for name, value in changes.items():
        setattr(order, name, value)
    return order


# ---- The application (flows (二)1–3) -----------------------------------------------------------


class ApplicationError(Exception):
    """A rule of the application refused the request; `message` is shown on the page."""

    def __init__(self, message: str, *, existing: Order | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.existing = existing


SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "applicant": ("applicant_phone", "applicant_email"),
    "enterprise": (
        "enterprise_name",
        "credit_code",
        "legal_rep_name",
        "legal_rep_id_number",
        "enterprise_address",
    ),
    "certificate": ("ca", "package", "years", "extra_seats"),
    "invoice": ("invoice_title", "invoice_tax_id", "invoice_email", "invoice_remark"),
}
SECTION_TITLES = {
    "applicant": "证书申请人",
    "enterprise": "企业信息",
    "certificate": "证书信息",
    "invoice": "发票信息",
}


def order_sections_missing(order: Order) -> list[str]:
    """The sections whose required fields are still empty, in page order."""
    required = {
        "applicant": [order.applicant_phone, order.applicant_email],
        "enterprise": [
            order.enterprise_name,
            order.credit_code,
            order.legal_rep_name,
            order.legal_rep_id_number,
            order.enterprise_address,
        ],
        "certificate": [order.ca_id, order.package_id, order.years],
        "invoice": [order.invoice_title, order.invoice_tax_id, order.invoice_email],
    }
    missing = [name for name, values in required.items() if not all(values)]
    if (
        "invoice" not in missing
        and "enterprise" not in missing
        and invoice_remark_required(
            invoice_title=order.invoice_title,
            taxpayer_id=order.invoice_tax_id,
            enterprise_name=order.enterprise_name,
            credit_code=order.credit_code,
        )
        and not order.invoice_remark
    ):
        missing.append("invoice")
    return missing


def _blocking_for(*, credit_code: str, exclude: Order | None = None) -> ApplicationError | None:
    """Why an application for this enterprise cannot go on, if it cannot."""
    from certificates.models import EnterpriseCertificate

    certificates = EnterpriseCertificate.objects.filter(
        credit_code=credit_code,
        status__in=[EnterpriseCertificate.Status.PENDING, EnterpriseCertificate.Status.VALID],
    )
    if exclude is not None and exclude.renewal_of_id is not None:
        # 续期: the certificate being renewed stays valid until its successor is issued, and
        # the renewal is for that same enterprise only.
        renewed = EnterpriseCertificate.objects.only("credit_code").get(pk=exclude.renewal_of_id)
        if renewed.credit_code != credit_code:
            return ApplicationError("续期不能更改统一社会信用代码；其他企业请另行办理")
        certificates = certificates.exclude(pk=renewed.pk)
    if certificates.exists():
        return ApplicationError("该企业已有有效的数字证书，一个企业只能办理一个数字证书")
    open_orders = Order.objects.filter(
        kind=OrderKind.NEW_CERTIFICATE,
        credit_code=credit_code,
        status__in=OPEN_STATUSES - {OrderStatus.DRAFT},
    )
    if exclude is not None:
        open_orders = open_orders.exclude(pk=exclude.pk)
    existing = open_orders.first()
    if existing is not None:
        return ApplicationError("该企业已有正在办理的申请，不能重复申请", existing=existing)
    return None


def order_draft_for(*, applicant: User) -> Order:
    """The applicant's unfinished application (resumed), or a new one."""
    draft = (
        Order.objects.filter(
            applicant=applicant,
            kind=OrderKind.NEW_CERTIFICATE,
            status=OrderStatus.DRAFT,
            renewal_of__isnull=True,  # a renewal is resumed from its certificate, not 【办理】
        )
        .order_by("-created_at")
        .first()
    )
    if draft is not None:
        return draft
    return order_create(
        kind=OrderKind.NEW_CERTIFICATE,
        applicant=applicant,
        ca=None,
        package=None,
        years=None,
        applicant_phone=applicant.phone,
    )


def _draft_for_update(order: Order) -> Order:
    """The order's row, locked for this transaction; ApplicationError unless still a draft."""
    locked = (
        Order.objects.select_for_update(of=("self",))
        .select_related("package")
        .filter(pk=order.pk)
        .first()
    )
    if locked is None or locked.status != OrderStatus.DRAFT:
        raise ApplicationError("订单已提交，不能再修改")
    return locked


def _priced(order: Order) -> Order:
    """Price the order from its own (locked) fields: the amount always matches what it says."""
    if order.package_id and order.years:
        order.amount_fen = pricing.new_certificate_price_fen(
            package=order.package, years=order.years, extra_seats=order.extra_seats
        )
        order.package_price_per_year_fen = order.package.price_per_year_fen
    return order


def order_section_save(*, order: Order, section: str, data: dict[str, Any]) -> Order:
    """Save one section of a draft (validated by its form) and re-price the order.

    The row is locked while the section is applied and priced, so two sections saved at the
    same moment cannot leave an amount computed from the other's stale copy.
    """
    if set(data) - set(SECTION_FIELDS[section]):
        raise ValueError(
            f"unexpected fields for {section}: {set(data) - set(SECTION_FIELDS[section])}"
        )
    if section == "enterprise":
        blocked = _blocking_for(credit_code=data["credit_code"], exclude=order)
        if blocked:
            raise blocked
    with transaction.atomic():
        locked = _draft_for_update(order)
        for name, value in data.items():
            setattr(locked, name, value)
        _priced(locked)
        locked.save(update_fields=[*data, "amount_fen", "package_price_per_year_fen", "updated_at"])
    for name in [*data, "amount_fen", "package_price_per_year_fen", "updated_at"]:
        setattr(order, name, getattr(locked, name))
    return order


def agreement_accept(
    *, order: Order, actor: User, agreement: AgreementVersion, ip: str, user_agent: str
) -> Order:
    """The applicant ticked 同意 on the CA's current agreement: record it and submit the order.

    Submission claims the enterprise: the partial unique index one_open_application_per_credit_code
    lets one submitted, open application per credit code exist, so of two applicants submitting
    for the same enterprise at once exactly one wins and the other gets ApplicationError.
    """
    from .models import AgreementAcceptance

    try:
        with transaction.atomic():
            locked = _draft_for_update(order)
            missing = order_sections_missing(locked)
            if missing:
                titles = "、".join(SECTION_TITLES[m] for m in missing)
                raise ApplicationError(f"请先完整填写：{titles}")
            if agreement.ca_id != locked.ca_id:
                raise ApplicationError("协议与所选证书机构不符，请重新阅读协议")
            blocked = _blocking_for(credit_code=locked.credit_code, exclude=locked)
            if blocked:
                raise blocked
            # Freeze the price the applicant agreed to, computed from the locked row.
            _priced(locked)
            AgreementAcceptance.objects.create(
                order=locked,
                agreement=agreement,
                accepted_at=timezone.now(),
                ip_address=ip or None,
                user_agent=user_agent[:500],
            )
            return order_transition(
                order=locked,
                to=OrderStatus.AWAITING_AUTHORIZATION,
                actor=actor,
                reason=f"同意{agreement.title} v{agreement.version}",
                amount_fen=locked.amount_fen,
                package_price_per_year_fen=locked.package_price_per_year_fen,
            )
    except IntegrityError as exc:
        if "credit_code" not in str(exc) and "one_open_application" not in str(exc):
            raise
        raise ApplicationError("该企业已有正在办理的申请，不能重复申请") from exc


def applicant_is_legal_rep(*, order: Order, identity: Identity | None) -> bool:
    """The applicant's verified name and ID equal the enterprise's legal representative."""
    return (
        identity is not None
        and identity.real_name == order.legal_rep_name
        and identity.id_number == order.legal_rep_id_number
    )


def legal_rep_self_confirm(*, order: Order, actor: User, identity: Identity | None) -> Order:
    """(二)3, first case: the legal representative applies and confirms the 业务授权书 himself."""
    if order.applicant_id != actor.pk or not applicant_is_legal_rep(order=order, identity=identity):
        raise ApplicationError("只有法定代表人本人可以直接确认业务授权书")
    return order_transition(
        order=order,
        to=OrderStatus.AUTHORIZED,
        actor=actor,
        reason="法定代表人本人确认业务授权书",
        authorization_method=AuthorizationMethod.LEGAL_REP_SELF,
    )


CANCELLABLE_BY_APPLICANT = frozenset(
    {OrderStatus.DRAFT, OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.REJECTED}
)


def order_cancel(*, order: Order, actor: User) -> Order:
    """The applicant gives up an order before paying; it frees the enterprise for a new one."""
    if order.applicant_id != actor.pk or order.status not in CANCELLABLE_BY_APPLICANT:
        raise ApplicationError("该订单当前不能取消")
    try:
        return order_transition(
            order=order, to=OrderStatus.CANCELLED, actor=actor, reason="申请人取消"
        )
    except TransitionConflict as exc:
        raise ApplicationError("订单状态已变化，请刷新后重试") from exc
