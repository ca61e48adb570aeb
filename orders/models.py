from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from certificates.models import MAX_YEARS

from .states import TRANSITIONS, OrderKind, OrderStatus


class Order(models.Model):
    """One purchase: a new enterprise certificate, or more seats on one.

    `status` only changes through orders.services.order_transition.
    """

    number = models.CharField("订单号", max_length=32, unique=True, editable=False)
    kind = models.CharField("类型", max_length=20, choices=OrderKind.choices)
    status = models.CharField("状态", max_length=30, choices=OrderStatus.choices)
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name="申请人",
    )
    ca = models.ForeignKey(
        "certificates.CAInstitution",
        on_delete=models.PROTECT,
        related_name="orders",
        verbose_name="证书机构",
    )
    package = models.ForeignKey(
        "certificates.Package",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name="证书套餐",
    )
    years = models.PositiveSmallIntegerField(
        "年限", validators=[MinValueValidator(1), MaxValueValidator(MAX_YEARS)]
    )
    extra_seats = models.PositiveIntegerField("额外授权员工数量", default=0)
    amount_fen = models.PositiveBigIntegerField("金额（分）")
    created_at = models.DateTimeField("创建时间", auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "订单"
        verbose_name_plural = "订单"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["applicant", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(years__gte=1) & Q(years__lte=MAX_YEARS), name="order_years_in_range"
            ),
            models.CheckConstraint(
                condition=Q(kind=OrderKind.SEAT_TOPUP) | Q(package__isnull=False),
                name="new_certificate_order_has_package",
            ),
            models.CheckConstraint(condition=Q(kind__in=OrderKind.values), name="order_kind_valid"),
            # Each kind only takes the statuses its part of the transition table names.
            models.CheckConstraint(
                condition=(
                    Q(
                        kind=OrderKind.NEW_CERTIFICATE,
                        status__in=list(TRANSITIONS[OrderKind.NEW_CERTIFICATE]),
                    )
                    | Q(
                        kind=OrderKind.SEAT_TOPUP,
                        status__in=list(TRANSITIONS[OrderKind.SEAT_TOPUP]),
                    )
                ),
                name="order_status_valid_for_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class OrderEvent(models.Model):
    """One row per status move: who, from, to, why, when. Never edited."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="events", verbose_name="订单"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="操作人",
    )
    # Who acted when there is no user: "系统", "微信支付", "法定代表人（分享链接）"…
    actor_label = models.CharField("操作方", max_length=50, blank=True)
    from_status = models.CharField("原状态", max_length=30, choices=OrderStatus.choices, blank=True)
    to_status = models.CharField("新状态", max_length=30, choices=OrderStatus.choices)
    reason = models.CharField("原因", max_length=500, blank=True)
    created_at = models.DateTimeField("时间", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "订单事件"
        verbose_name_plural = "订单事件"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id}: {self.from_status or '—'} → {self.to_status}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or "系统"
