"""Order statuses and the one table of allowed moves.

New certificate:  填写中 → 待授权 → (已授权待支付 → 签发中)
                                 or (待审核 → 待审核（CA复审） → 签发中) → 已完成
                  审核不通过 → 待审核 (corrected and resubmitted); unfinished orders → 已取消
Seat top-up:      待支付 → 已完成, or → 已取消
"""

from django.db import models


class OrderKind(models.TextChoices):
    NEW_CERTIFICATE = "new_certificate", "新办证书"
    SEAT_TOPUP = "seat_topup", "新增授权数量"


class AuthorizationMethod(models.TextChoices):
    LEGAL_REP_SELF = "legal_rep_self", "法定代表人本人确认"
    SHARE_LINK = "share_link", "法定代表人刷脸验证授权"
    BANK_TRANSFER = "bank_transfer", "对公银行账号转账验证授权"


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "填写中"
    AWAITING_AUTHORIZATION = "awaiting_authorization", "待授权"
    AUTHORIZED = "authorized", "已授权待支付"
    PENDING_REVIEW = "pending_review", "待审核"
    # Support approved a bank-transfer order; the CA's reviewer decides next. Users see 待审核
    # with the stage named: "待审核（CA复审）".
    PENDING_CA_REVIEW = "pending_ca_review", "待审核（CA复审）"
    REJECTED = "rejected", "审核不通过"
    AWAITING_PAYMENT = "awaiting_payment", "待支付"
    ISSUING = "issuing", "签发中"
    COMPLETED = "completed", "已完成"
    CANCELLED = "cancelled", "已取消"


S = OrderStatus
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    OrderKind.NEW_CERTIFICATE: {
        S.DRAFT: frozenset({S.AWAITING_AUTHORIZATION, S.CANCELLED}),
        S.AWAITING_AUTHORIZATION: frozenset({S.AUTHORIZED, S.PENDING_REVIEW, S.CANCELLED}),
        S.AUTHORIZED: frozenset({S.ISSUING, S.CANCELLED}),
        S.PENDING_REVIEW: frozenset({S.PENDING_CA_REVIEW, S.REJECTED}),
        S.PENDING_CA_REVIEW: frozenset({S.ISSUING, S.REJECTED}),
        S.REJECTED: frozenset({S.PENDING_REVIEW, S.CANCELLED}),
        S.ISSUING: frozenset({S.COMPLETED}),
        S.COMPLETED: frozenset(),
        S.CANCELLED: frozenset(),
    },
    OrderKind.SEAT_TOPUP: {
        S.AWAITING_PAYMENT: frozenset({S.COMPLETED, S.CANCELLED}),
        S.COMPLETED: frozenset(),
        S.CANCELLED: frozenset(),
    },
}

INITIAL_STATUS = {
    OrderKind.NEW_CERTIFICATE: S.DRAFT,
    OrderKind.SEAT_TOPUP: S.AWAITING_PAYMENT,
}

# An order in one of these still holds its enterprise's place (one open application at a time).
OPEN_STATUSES = frozenset(
    {
        S.DRAFT,
        S.AWAITING_AUTHORIZATION,
        S.AUTHORIZED,
        S.PENDING_REVIEW,
        S.PENDING_CA_REVIEW,
        S.REJECTED,
        S.AWAITING_PAYMENT,
        S.ISSUING,
    }
)


def allowed_moves(kind: str, status: str) -> frozenset[str]:
    return TRANSITIONS[kind].get(status, frozenset())
