from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from certificates.models import MAX_YEARS

from .enterprise import GUANGDONG_DIVISION_PREFIX
from .states import (
    OPEN_STATUSES,
    TRANSITIONS,
    AuthorizationMethod,
    OrderKind,
    OrderStatus,
)


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
    # CA, package and years are chosen in the application's 证书信息 section: a draft may not
    # have them yet.
    ca = models.ForeignKey(
        "certificates.CAInstitution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
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
        "年限",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_YEARS)],
    )
    extra_seats = models.PositiveIntegerField("额外授权员工数量", default=0)
    amount_fen = models.PositiveBigIntegerField("金额（分）", default=0)
    # The package's price when the order was priced: a later price change does not touch it.
    package_price_per_year_fen = models.PositiveIntegerField("套餐单价（分/年）", default=0)

    # 证书申请人 (the name and ID come from the applicant's verified identity).
    applicant_phone = models.CharField("申请人手机号", max_length=11, blank=True)
    applicant_email = models.EmailField("申请人邮箱", blank=True)
    # 企业信息.
    enterprise_name = models.CharField("企业名称", max_length=100, blank=True)
    credit_code = models.CharField("统一社会信用代码", max_length=18, blank=True, db_index=True)
    legal_rep_name = models.CharField("法定代表人姓名", max_length=30, blank=True)
    legal_rep_id_number = models.CharField("法定代表人身份证号", max_length=18, blank=True)
    enterprise_address = models.CharField("企业地址", max_length=200, blank=True)
    # 发票信息.
    invoice_title = models.CharField("发票抬头", max_length=100, blank=True)
    invoice_tax_id = models.CharField("纳税人识别号", max_length=20, blank=True)
    invoice_email = models.EmailField("发票接收邮箱", blank=True)
    invoice_remark = models.CharField("发票备注", max_length=200, blank=True)

    # A renewal (续期) replaces this certificate when the new one is issued.
    renewal_of = models.ForeignKey(
        "certificates.EnterpriseCertificate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="renewals",
        verbose_name="续期的证书",
    )
    # A seat top-up adds seats to this certificate's enterprise.
    target_certificate = models.ForeignKey(
        "certificates.EnterpriseCertificate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="topups",
        verbose_name="新增授权的证书",
    )
    authorization_method = models.CharField(
        "授权方式", max_length=20, choices=AuthorizationMethod.choices, blank=True
    )
    # When the applicant was sent to WeChat Pay; the settle sweep queries orders from then on.
    payment_requested_at = models.DateTimeField("发起支付时间", null=True, blank=True)
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
                condition=Q(kind=OrderKind.SEAT_TOPUP)
                | Q(status=OrderStatus.DRAFT)
                | (Q(package__isnull=False) & Q(ca__isnull=False) & Q(years__isnull=False)),
                name="submitted_new_certificate_order_is_complete",
            ),
            models.CheckConstraint(
                condition=Q(status=OrderStatus.DRAFT) | Q(amount_fen__gt=0),
                name="submitted_order_has_an_amount",
            ),
            # One submitted, open application per enterprise: the database decides between
            # two racing submissions, not a check in a view. Drafts claim nothing, so nobody
            # can block an enterprise by typing its (public) credit code.
            models.UniqueConstraint(
                fields=["credit_code"],
                condition=Q(
                    kind=OrderKind.NEW_CERTIFICATE,
                    status__in=sorted(OPEN_STATUSES - {OrderStatus.DRAFT}),
                )
                & ~Q(credit_code=""),
                name="one_open_application_per_credit_code",
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

    @property
    def progress_step(self) -> int:
        """The step of 填写信息 → 阅读协议 → 授权 → 支付 → 签发 this order is on (6: all done)."""
        return {
            OrderStatus.DRAFT: 1,
            OrderStatus.AWAITING_AUTHORIZATION: 3,
            OrderStatus.PENDING_REVIEW: 3,
            OrderStatus.PENDING_CA_REVIEW: 3,
            OrderStatus.REJECTED: 3,
            OrderStatus.AUTHORIZED: 4,
            OrderStatus.ISSUING: 5,
            OrderStatus.COMPLETED: 6,
        }.get(self.status, 0)

    @property
    def in_province(self) -> bool:
        """省内: the division code inside the credit code (characters 3–8) starts with 44."""
        return self.credit_code[2:4] == GUANGDONG_DIVISION_PREFIX


class AgreementAcceptance(models.Model):
    """The applicant ticked 同意 on this version of the CA's 业务协议书."""

    order = models.OneToOneField(
        Order, on_delete=models.PROTECT, related_name="agreement_acceptance", verbose_name="订单"
    )
    agreement = models.ForeignKey(
        "certificates.AgreementVersion",
        on_delete=models.PROTECT,
        related_name="acceptances",
        verbose_name="协议版本",
    )
    accepted_at = models.DateTimeField("同意时间")
    ip_address = models.GenericIPAddressField("IP 地址", null=True, blank=True)
    user_agent = models.CharField("浏览器", max_length=500, blank=True)

    class Meta:
        verbose_name = "协议签署记录"
        verbose_name_plural = "协议签署记录"

    def __str__(self) -> str:
        return f"{self.order} · {self.agreement}"


class Payment(models.Model):
    """A confirmed payment. At most one per order and per WeChat Pay transaction: a duplicate
    notification finds the row and changes nothing."""

    order = models.OneToOneField(
        Order, on_delete=models.PROTECT, related_name="payment", verbose_name="订单"
    )
    provider = models.CharField("支付渠道", max_length=30, default="wechatpay")
    out_trade_no = models.CharField("商户订单号", max_length=32, unique=True)
    transaction_id = models.CharField("微信支付订单号", max_length=64, unique=True)
    amount_fen = models.PositiveBigIntegerField("金额（分）")
    currency = models.CharField("币种", max_length=3, default="CNY")
    payee_mchid = models.CharField("收款商户号", max_length=32)
    paid_at = models.DateTimeField("支付时间")
    # How we learned of it: the notification, or the settle sweep's query.
    source = models.CharField("来源", max_length=20)
    created_at = models.DateTimeField("记录时间", auto_now_add=True)

    class Meta:
        verbose_name = "支付记录"
        verbose_name_plural = "支付记录"

    def __str__(self) -> str:
        return f"{self.out_trade_no} · {self.transaction_id}"


class WechatPayMerchant(models.Model):
    """A CA's WeChat Pay merchant account: each CA is the payee of its own orders.

    Secrets (the merchant's API private key, the APIv3 key, and in the sandbox the platform's
    private key) are stored encrypted by certificates.keys, bound to this row's mchid.
    """

    ca = models.OneToOneField(
        "certificates.CAInstitution",
        on_delete=models.PROTECT,
        related_name="wechatpay",
        verbose_name="CA机构",
    )
    mchid = models.CharField("商户号", max_length=32, unique=True)
    appid = models.CharField("AppID", max_length=32)
    merchant_serial = models.CharField("商户API证书序列号", max_length=64)
    encrypted_merchant_key = models.BinaryField(editable=False)
    encrypted_api_v3_key = models.BinaryField(editable=False)
    platform_serial = models.CharField("平台公钥/证书序列号", max_length=64)
    platform_public_key_pem = models.TextField("平台公钥 (PEM)")
    # Only for the sandbox provider, which signs notifications as the platform would.
    encrypted_sandbox_platform_key = models.BinaryField(editable=False, null=True, blank=True)

    class Meta:
        verbose_name = "微信支付商户"
        verbose_name_plural = "微信支付商户"

    def __str__(self) -> str:
        return f"{self.ca} · {self.mchid}"


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
    # Set by _event_add before the row is hashed (auto_now_add would overwrite it on save).
    created_at = models.DateTimeField("时间", default=timezone.now, editable=False, db_index=True)
    # The hash chain (orders.audit): the previous event's hash and this event's own.
    # Unique: two events can never claim the same predecessor, so the chain cannot fork even if
    # the append lock were bypassed — the second insert fails instead.
    prev_hash = models.CharField("前一事件哈希", max_length=64, editable=False, unique=True)
    hash = models.CharField("哈希", max_length=64, editable=False, unique=True)

    class Meta:
        verbose_name = "订单事件"
        verbose_name_plural = "订单事件"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        source = self.get_from_status_display() if self.from_status else "—"
        return f"{source} → {self.get_to_status_display()}"

    @property
    def actor_display(self) -> str:
        if self.actor_id:
            return str(self.actor)
        return self.actor_label or "系统"
