"""Review of bank-transfer orders in the admin, and who among the staff may see what.

Two reviews, in order: 客服 (support) first, then the CA's own reviewer (CA审核员). Staff roles
come from group membership (groups made by seed_demo); a CA reviewer belongs to the CA named by
``User.ca_institution`` and sees only that CA's orders, events and files. The admin's querysets,
the review view and the file view all scope through ``scope_for_staff`` below, so a crafted URL
finds nothing a menu would have hidden.
"""

from functools import partial
from typing import Literal

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import User
from orders.models import Order
from orders.services import TransitionConflict, order_transition
from orders.states import OrderStatus

from .models import BankTransfer

SUPPORT_GROUP = "客服"
CA_REVIEWER_GROUP = "CA审核员"
OPERATOR_GROUP = "运营"

StaffRole = Literal["operator", "support", "ca_reviewer"]
ReviewStage = Literal["support", "ca"]

REASON_MIN_CHARS = 2
REASON_MAX_CHARS = 500
# The uploads a transfer carries (its FileField names), in the order a reviewer reads them.
FILE_KINDS = ("business_license", "signed_letter", "voucher")


class ReviewError(Exception):
    """A review was refused; `message` is shown to the reviewer as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReviewNotAllowed(ReviewError):
    """This reviewer may not make this decision on this order now (role, CA or status)."""


class ReviewReasonInvalid(ReviewError):
    """A rejection without a usable reason, or a reason too long to store."""


# ---- Staff roles and what each may see -------------------------------------------------------


def _group_names(user: User) -> frozenset[str]:
    # Cached on the instance like Django's own permission cache: request.user is per request.
    cached = getattr(user, "_yq_group_names", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._yq_group_names = cached
    return cached


def staff_role(user) -> StaffRole | None:
    """The user's role in the admin, or None for anyone who is not active staff.

    A CA reviewer's membership wins over 客服 and 运营: should someone be put in two groups by
    mistake, they see less, never more. A superuser is an operator and sees everything.
    """
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if user.is_superuser:
        return "operator"
    groups = _group_names(user)
    if CA_REVIEWER_GROUP in groups:
        return "ca_reviewer"
    if SUPPORT_GROUP in groups:
        return "support"
    if OPERATOR_GROUP in groups:
        return "operator"
    return None


def scope_for_staff(queryset: QuerySet, user, *, ca_field: str = "ca") -> QuerySet:
    """The rows of `queryset` this staff user may see: everything for operators and support,
    their own CA's rows for a CA reviewer (none without a CA), nothing for anyone else.

    `ca_field` is the lookup path from the queryset's model to its CA (``"order__ca"``…).
    """
    role = staff_role(user)
    if role in ("operator", "support"):
        return queryset
    if role == "ca_reviewer" and user.ca_institution_id:
        return queryset.filter(**{f"{ca_field}_id": user.ca_institution_id})
    return queryset.none()


def _may_review_as_support(user) -> bool:
    role = staff_role(user)
    return role == "support" or (role == "operator" and user.is_superuser)


def _may_review_as_ca(user, order: Order) -> bool:
    return (
        staff_role(user) == "ca_reviewer"
        and user.ca_institution_id is not None
        and user.ca_institution_id == order.ca_id
    )


def review_stage_for(user, order: Order) -> ReviewStage | None:
    """Which decision this user may make on this order now, if any (the admin shows the form
    only then; the services check again)."""
    if order.applicant_id == user.pk:
        return None
    if order.status == OrderStatus.PENDING_REVIEW and _may_review_as_support(user):
        return "support"
    if order.status == OrderStatus.PENDING_CA_REVIEW and _may_review_as_ca(user, order):
        return "ca"
    return None


# ---- The two reviews ---------------------------------------------------------------------------


def _clean_reason(reason: str, *, approve: bool) -> str:
    reason = (reason or "").strip()
    if not approve and len(reason) < REASON_MIN_CHARS:
        raise ReviewReasonInvalid("审核不通过时请填写原因（至少 2 个字），申请人将看到这段原因")
    if len(reason) > REASON_MAX_CHARS:
        raise ReviewReasonInvalid(f"原因不能超过 {REASON_MAX_CHARS} 个字")
    return reason


def _transfer_for_update(order: Order) -> BankTransfer:
    """The order's transfer row, locked until the transaction ends: decisions queue here."""
    transfer = BankTransfer.objects.select_for_update().filter(order_id=order.pk).first()
    if transfer is None:
        raise ReviewNotAllowed("该订单不是对公转账授权订单，无需审核")
    return transfer


def _decide(*, order: Order, reviewer: User, to: str, event_reason: str) -> None:
    try:
        order_transition(order=order, to=to, actor=reviewer, reason=event_reason)
    except TransitionConflict:
        raise ReviewNotAllowed("该订单已被其他人审核，请刷新页面查看最新状态") from None


def support_review(*, order: Order, reviewer: User, approve: bool, reason: str) -> Order:
    """客服's first review of a bank-transfer order: 待审核 → 待审核（CA复审） or 审核不通过.

    Raises ReviewNotAllowed when the reviewer is not support staff (or a superuser), reviews
    their own order, or the order is not waiting for this review — including when another
    reviewer decided first — and ReviewReasonInvalid for a rejection without a reason.
    """
    if not _may_review_as_support(reviewer):
        raise ReviewNotAllowed("只有客服可以进行客服审核")
    if order.applicant_id == reviewer.pk:
        raise ReviewNotAllowed("不能审核自己提交的订单")
    reason = _clean_reason(reason, approve=approve)
    if order.status != OrderStatus.PENDING_REVIEW:
        raise ReviewNotAllowed(f"订单当前状态为「{order.get_status_display()}」，不能进行客服审核")
    with transaction.atomic():
        transfer = _transfer_for_update(order)
        if approve:
            to, event_reason = OrderStatus.PENDING_CA_REVIEW, _event_reason("客服审核通过", reason)
        else:
            to, event_reason = OrderStatus.REJECTED, _event_reason("客服审核不通过", reason)
        _decide(order=order, reviewer=reviewer, to=to, event_reason=event_reason)
        transfer.support_decision = (
            BankTransfer.Decision.APPROVED if approve else BankTransfer.Decision.REJECTED
        )
        transfer.support_reviewer = reviewer
        transfer.support_reason = reason
        transfer.support_reviewed_at = timezone.now()
        # A resubmitted order starts a new round: the CA's decision on the last round is in the
        # order's events, not in the fields the CA reviewer is about to fill.
        transfer.ca_decision = BankTransfer.Decision.PENDING
        transfer.ca_reviewer = None
        transfer.ca_reason = ""
        transfer.ca_reviewed_at = None
        transfer.save(
            update_fields=[
                "support_decision",
                "support_reviewer",
                "support_reason",
                "support_reviewed_at",
                "ca_decision",
                "ca_reviewer",
                "ca_reason",
                "ca_reviewed_at",
                "updated_at",
            ]
        )
    return order


def ca_review(*, order: Order, reviewer: User, approve: bool, reason: str) -> Order:
    """The CA reviewer's second review: 待审核（CA复审） → 签发中 (issuance queued) or 审核不通过.

    Only a CA审核员 of the order's own CA may decide. An approval queues the same issuance as a
    WeChat payment does, once the decision is committed.
    """
    if not _may_review_as_ca(reviewer, order):
        raise ReviewNotAllowed("只有该订单所属CA机构的审核员可以进行CA审核")
    if order.applicant_id == reviewer.pk:
        raise ReviewNotAllowed("不能审核自己提交的订单")
    reason = _clean_reason(reason, approve=approve)
    if order.status != OrderStatus.PENDING_CA_REVIEW:
        raise ReviewNotAllowed(f"订单当前状态为「{order.get_status_display()}」，不能进行CA审核")
    with transaction.atomic():
        transfer = _transfer_for_update(order)
        if transfer.support_decision != BankTransfer.Decision.APPROVED:
            raise ReviewNotAllowed("客服尚未审核通过该订单")
        if approve:
            to, event_reason = OrderStatus.ISSUING, _event_reason("CA审核通过", reason)
        else:
            to, event_reason = OrderStatus.REJECTED, _event_reason("CA审核不通过", reason)
        _decide(order=order, reviewer=reviewer, to=to, event_reason=event_reason)
        transfer.ca_decision = (
            BankTransfer.Decision.APPROVED if approve else BankTransfer.Decision.REJECTED
        )
        transfer.ca_reviewer = reviewer
        transfer.ca_reason = reason
        transfer.ca_reviewed_at = timezone.now()
        transfer.save(
            update_fields=[
                "ca_decision",
                "ca_reviewer",
                "ca_reason",
                "ca_reviewed_at",
                "updated_at",
            ]
        )
        if approve:
            # robust: the decision stands whatever happens here; should queueing fail (broker
            # down), the order waits in 签发中 for the periodic certificates_issue_stuck task.
            transaction.on_commit(partial(_issuance_queue, order.pk), robust=True)
    return order


def _event_reason(verdict: str, reason: str) -> str:
    return f"{verdict}：{reason}" if reason else verdict


def _issuance_queue(order_id: int) -> None:
    from certificates.tasks import certificate_issue

    certificate_issue.delay(order_id)


# ---- The staff file view -----------------------------------------------------------------------


def staff_transfer_file(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """One upload of a transfer, for staff who may see its order; 404 for anyone else.

    Wired by the BankTransfer admin behind ``admin_site.admin_view`` (staff login), and checks
    the model permission and the CA scope itself rather than trusting that wiring.
    """
    from .uploads import transfer_file_response

    user = request.user
    if kind not in FILE_KINDS or not user.has_perm("authorization.view_banktransfer"):
        raise Http404
    visible = scope_for_staff(BankTransfer.objects.all(), user, ca_field="order__ca")
    transfer = visible.select_related("order").filter(pk=pk).first()
    if transfer is None or not getattr(transfer, kind):
        raise Http404
    return transfer_file_response(transfer, kind)


# ---- The admin's scoping ----------------------------------------------------------------------


class StaffScopedAdminMixin:
    """For a ModelAdmin whose rows belong to a CA: the changelist, the change page, the history
    and every object URL go through get_queryset, so they are all scoped; no bulk actions."""

    ca_scope_field = "ca"
    actions = None

    def get_queryset(self, request):
        return scope_for_staff(
            super().get_queryset(request), request.user, ca_field=self.ca_scope_field
        )
