"""The legal representative's share link (法定代表人刷脸验证授权): make it, resolve it, and
authorize the order with it after a face check.

The raw token exists only in the applicant's share card and in the legal representative's
address bar; the database keeps its SHA-256. A token has 256 bits from the OS CSPRNG, so looking
its hash up is all the comparison it needs: a guess cannot be narrowed down by timing.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from accounts.faceauth import face_provider
from accounts.identity import mask_id_number, validate_chinese_name, validate_id_number
from accounts.models import User
from accounts.selectors import identity_for
from accounts.services import IdentityCheckFailed, face_check_run
from orders.models import Order
from orders.services import (
    TransitionConflict,
    TransitionNotAllowed,
    applicant_is_legal_rep,
    order_transition,
)
from orders.states import AuthorizationMethod, OrderStatus
from yueqiqian import ratelimit

from .models import ShareLink

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32  # 256 bits; token_urlsafe makes 43 characters of them
ACTOR_LABEL = "法定代表人（分享链接）"
LEGAL_REP_MISMATCH_MESSAGE = "姓名或身份证号与企业法定代表人不一致"


class ShareLinkError(Exception):
    """The applicant may not make a share link for this order now; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ShareLinkInvalid(Exception):
    """The link cannot be used. `kind` is one of KINDS; `title` and `message` are the page."""

    KINDS = {
        "forged": (
            "链接无效",
            "无法识别该授权链接。请确认链接完整无误，或联系申请人重新分享。",
        ),
        "expired": (
            "链接已过期",
            "该授权链接已超过有效期。请联系申请人在订单详情中重新生成并分享。",
        ),
        "used": (
            "链接已使用",
            "该授权链接已完成授权，每个链接只能使用一次，无需再次操作。",
        ),
        "revoked": (
            "链接已作废",
            "申请人已生成新的授权链接，此链接随之失效。请使用最新收到的链接。",
        ),
        "order_moved": (
            "订单状态已变化",
            "该订单当前无需法定代表人授权（可能已授权、已改用其他授权方式或已取消）。",
        ),
    }

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.title, self.message = self.KINDS[kind]
        super().__init__(f"share link {kind}")


class ShareLinkCheckFailed(Exception):
    """The legal representative's check did not pass; the link stays usable (a new try with a
    corrected entry or photo may pass). `field` is the form field the message belongs to."""

    def __init__(self, message: str, *, field: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_link_url(token: str) -> str:
    """The absolute address the legal representative opens (it leaves the site by WeChat)."""
    return settings.YQ_PUBLIC_BASE_URL + reverse("authorization:share_open", args=[token])


def _order_lock(order: Order) -> Order:
    """The order's row, locked until the end of the transaction (link creation serializes per
    order, so two taps of 【分享给法定代表人授权】 leave exactly one live link)."""
    return Order.objects.select_for_update().get(pk=order.pk)


@transaction.atomic
def share_link_create(*, order: Order, actor: User) -> tuple[ShareLink, str]:
    """Make a new share link for the applicant's order awaiting authorization, revoking any
    earlier one that was not used. Returns the link and its raw token, which is not stored.

    Only for in-province enterprises whose applicant is not the legal representative: an
    out-of-province enterprise authorizes by bank transfer only.
    """
    if order.applicant_id != actor.pk:
        raise ShareLinkError("只有申请人可以分享该订单")
    locked = _order_lock(order)
    if locked.status != OrderStatus.AWAITING_AUTHORIZATION:
        raise ShareLinkError("订单当前不需要法定代表人授权")
    if not locked.in_province:
        raise ShareLinkError("省外企业仅支持对公银行账号转账验证授权")
    if applicant_is_legal_rep(order=locked, identity=identity_for(actor)):
        raise ShareLinkError("您是该企业的法定代表人，请直接确认业务授权书")
    now = timezone.now()
    # Expired links are revoked too: the one-live-link constraint counts every unused,
    # unrevoked row, whatever its expiry.
    ShareLink.objects.filter(order=locked, used_at__isnull=True, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link = ShareLink.objects.create(
        order=locked,
        token_hash=token_hash(token),
        created_by=actor,
        expires_at=now + timedelta(hours=settings.YQ_SHARE_LINK_TTL_HOURS),
    )
    logger.info("share link created: order=%s link=%s by user=%s", locked.number, link.pk, actor.pk)
    return link, token


def share_link_live_for(*, order: Order) -> ShareLink | None:
    """The order's link that the legal representative can still use, if any (a read: the
    order page polls while there is one)."""
    if order.status != OrderStatus.AWAITING_AUTHORIZATION:
        return None
    return (
        ShareLink.objects.filter(
            order=order,
            used_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .only("pk", "order_id", "expires_at")
        .first()
    )


def _link_state(link: ShareLink) -> str | None:
    """Why the link cannot be used now, as a ShareLinkInvalid kind, or None."""
    if link.used_at is not None:
        return "used"
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= timezone.now():
        return "expired"
    if link.order.status != OrderStatus.AWAITING_AUTHORIZATION:
        return "order_moved"
    return None


def share_link_lookup(token: str) -> ShareLink:
    """The link for a token, whatever its state, with its order; ShareLinkInvalid("forged")
    when there is none."""
    link = (
        ShareLink.objects.select_related(
            "order", "order__ca", "order__package", "order__applicant__identity"
        )
        .filter(token_hash=token_hash(token))
        .first()
    )
    if link is None:
        raise ShareLinkInvalid("forged")
    return link


def share_link_resolve(token: str) -> ShareLink:
    """The live link for a token, with its order; raises ShareLinkInvalid saying why not."""
    link = share_link_lookup(token)
    kind = _link_state(link)
    if kind:
        raise ShareLinkInvalid(kind)
    return link


def _failed_check_count(link: ShareLink) -> None:
    ShareLink.objects.filter(pk=link.pk).update(failed_checks=F("failed_checks") + 1)


def share_link_authorize(
    *,
    token: str,
    real_name: str,
    id_number: str,
    selfie: bytes,
    content_type: str,
    ip: str,
) -> Order:
    """The legal representative's 确认授权: name + ID must be the enterprise's legal
    representative's and the face check must pass; then the link is spent and the order moves
    to 已授权待支付, in one transaction.

    Raises ShareLinkInvalid (nothing changed), ValidationError for a name or number that cannot
    be right, RateLimited (per link and per IP, counted before anything is compared, whatever
    the answer), and ShareLinkCheckFailed for the wrong person or a failed face check (counted
    on the link and logged; the link stays usable).
    """
    link = share_link_resolve(token)
    order = link.order
    name = validate_chinese_name(real_name)
    number = validate_id_number(id_number, today=timezone.localdate()).number
    # Before the comparison: the answer says whether a name + ID is the legal representative's.
    ratelimit.hit("share_link_check", str(link.pk))
    ratelimit.hit("face_check_ip", ip)

    if name != order.legal_rep_name or number != order.legal_rep_id_number:
        _failed_check_count(link)
        logger.warning(
            "share link check: not the legal representative: order=%s link=%s id=%s expected=%s",
            order.number,
            link.pk,
            mask_id_number(number),
            mask_id_number(order.legal_rep_id_number),
        )
        raise ShareLinkCheckFailed(LEGAL_REP_MISMATCH_MESSAGE, field=None)
    try:
        face_check_run(
            provider=face_provider(),
            real_name=name,
            id_number=number,
            selfie=selfie,
            content_type=content_type,
            subject=f"order={order.number} share_link={link.pk}",
        )
    except IdentityCheckFailed as exc:
        _failed_check_count(link)
        raise ShareLinkCheckFailed(exc.message, field="selfie") from None

    with transaction.atomic():
        now = timezone.now()
        spent = ShareLink.objects.filter(
            pk=link.pk, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        ).update(used_at=now)
        if not spent:
            # Another request used it, a new link revoked it, or it expired during the check.
            link.refresh_from_db()
            raise ShareLinkInvalid(_link_state(link) or "used")
        try:
            order = order_transition(
                order=order,
                to=OrderStatus.AUTHORIZED,
                actor_label=ACTOR_LABEL,
                reason=f"法定代表人{name}刷脸验证授权",
                authorization_method=AuthorizationMethod.SHARE_LINK,
            )
        except (TransitionNotAllowed, TransitionConflict):
            # The order moved meanwhile (cancelled, bank transfer submitted): the transaction
            # rolls back, so the link is not spent either.
            raise ShareLinkInvalid("order_moved") from None
    logger.info("share link used: order=%s link=%s", order.number, link.pk)
    return order
