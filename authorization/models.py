"""The legal representative's authorization when someone else applies (flow (二)3):
a share link with a face check, or a corporate bank transfer reviewed by support and the CA."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ShareLink(models.Model):
    """A link for the legal representative. Only a SHA-256 of its token is stored; it is bound
    to one order, expires, works once, and making a new one revokes the old."""

    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="share_links", verbose_name="订单"
    )
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name="创建人"
    )
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    expires_at = models.DateTimeField("过期时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    revoked_at = models.DateTimeField("作废时间", null=True, blank=True)
    failed_checks = models.PositiveSmallIntegerField("核验失败次数", default=0)

    class Meta:
        verbose_name = "授权分享链接"
        verbose_name_plural = "授权分享链接"
        ordering = ["-created_at"]
        constraints = [
            # At most one live link per order: the database backs the revoke-on-new rule.
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(used_at__isnull=True, revoked_at__isnull=True),
                name="one_live_share_link_per_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order} · {self.created_at:%Y-%m-%d %H:%M}"


class BankTransfer(models.Model):
    """对公银行账号转账验证授权: the company's account, the uploads, and the two reviews."""

    class Decision(models.TextChoices):
        PENDING = "pending", "待审核"
        APPROVED = "approved", "通过"
        REJECTED = "rejected", "不通过"

    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="bank_transfer", verbose_name="订单"
    )
    company_name = models.CharField("公司名称", max_length=100)
    bank_account = models.CharField("对公银行账号", max_length=40)
    # Quoted in the transfer remark, in the CA's own format; unique so a transfer matches one order.
    reference = models.CharField("转账参考码", max_length=12, unique=True)
    business_license = models.FileField("营业执照", upload_to="transfers/%Y/%m/", blank=True)
    signed_letter = models.FileField("已签字的业务授权书", upload_to="transfers/%Y/%m/", blank=True)
    voucher = models.FileField("转账凭证", upload_to="transfers/%Y/%m/", blank=True)
    voucher_uploaded_at = models.DateTimeField("凭证上传时间", null=True, blank=True)

    support_decision = models.CharField(
        "客服审核", max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    support_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="客服审核人",
    )
    support_reason = models.CharField("客服审核意见", max_length=500, blank=True)
    support_reviewed_at = models.DateTimeField("客服审核时间", null=True, blank=True)
    ca_decision = models.CharField(
        "CA审核", max_length=10, choices=Decision.choices, default=Decision.PENDING
    )
    ca_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="CA审核人",
    )
    ca_reason = models.CharField("CA审核意见", max_length=500, blank=True)
    ca_reviewed_at = models.DateTimeField("CA审核时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "对公转账授权"
        verbose_name_plural = "对公转账授权"

    def __str__(self) -> str:
        return f"{self.order} · {self.company_name}"
