from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

MAX_YEARS = 5


class CAInstitution(models.Model):
    """A certificate authority the applicant may choose; it is the payee of its own orders."""

    code = models.SlugField("代码", max_length=20, unique=True)
    name = models.CharField("机构名称", max_length=100, unique=True)
    contact_phone = models.CharField("联系电话", max_length=30)
    # Receiving account for corporate bank transfers, and the remark a transfer must carry.
    bank_account_name = models.CharField("收款户名", max_length=100)
    bank_name = models.CharField("开户行", max_length=100)
    bank_account_number = models.CharField(
        "收款账号", max_length=40, validators=[RegexValidator(r"^[0-9 ]{8,40}$", "账号只能是数字")]
    )
    transfer_remark_format = models.CharField(
        "转账备注格式",
        max_length=100,
        help_text="可用占位符：{ref} 订单参考码，{credit_code} 统一社会信用代码",
        default="{ref}",
    )
    is_active = models.BooleanField("可选", default=True)
    sort_order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = "CA机构"
        verbose_name_plural = "CA机构"
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.transfer_remark_format.format(ref="R", credit_code="C")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValidationError({"transfer_remark_format": f"格式无效：{exc}"}) from exc
        if "{ref}" not in self.transfer_remark_format:
            raise ValidationError({"transfer_remark_format": "格式必须包含 {ref}"})

    def transfer_remark(self, *, ref: str, credit_code: str) -> str:
        return self.transfer_remark_format.format(ref=ref, credit_code=credit_code)


class CACertificate(models.Model):
    """A CA's own certificate with its encrypted private key: its root, or its issuing CA."""

    class Role(models.TextChoices):
        ROOT = "root", "根证书"
        ISSUING = "issuing", "签发CA"

    ca = models.ForeignKey(
        CAInstitution, on_delete=models.PROTECT, related_name="certificates", verbose_name="CA机构"
    )
    role = models.CharField("角色", max_length=10, choices=Role.choices)
    subject = models.CharField("主题", max_length=300)
    serial_hex = models.CharField("序列号", max_length=64, unique=True)
    sha256_fingerprint = models.CharField("SHA-256 指纹", max_length=64, unique=True)
    not_before = models.DateTimeField("生效时间")
    not_after = models.DateTimeField("失效时间")
    certificate_pem = models.TextField("证书 (PEM)")
    # Encrypted by certificates.keys; never shown, never exported.
    encrypted_private_key = models.BinaryField(editable=False)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "CA证书"
        verbose_name_plural = "CA证书"
        constraints = [
            models.UniqueConstraint(fields=["ca", "role"], name="one_certificate_per_ca_role"),
        ]

    def __str__(self) -> str:
        return f"{self.ca} · {self.get_role_display()}"


class Package(models.Model):
    """What the applicant buys: price per year, and the validity periods the CA offers."""

    ca = models.ForeignKey(
        CAInstitution, on_delete=models.PROTECT, related_name="packages", verbose_name="CA机构"
    )
    name = models.CharField("套餐名称", max_length=60)
    description = models.CharField("说明", max_length=200, blank=True)
    includes_official_seal = models.BooleanField("含机构公章", default=True)
    includes_legal_rep_seal = models.BooleanField("含法定代表人章", default=True)
    price_per_year_fen = models.PositiveIntegerField("每年价格（分）")
    min_years = models.PositiveSmallIntegerField(
        "最短年限", default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_YEARS)]
    )
    max_years = models.PositiveSmallIntegerField(
        "最长年限", default=3, validators=[MinValueValidator(1), MaxValueValidator(MAX_YEARS)]
    )
    is_active = models.BooleanField("在售", default=True)
    sort_order = models.PositiveSmallIntegerField("排序", default=0)

    class Meta:
        verbose_name = "证书套餐"
        verbose_name_plural = "证书套餐"
        ordering = ["ca", "sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ca", "name"], name="package_name_unique_per_ca"),
            models.CheckConstraint(
                condition=Q(min_years__gte=1) & Q(max_years__lte=MAX_YEARS),
                name="package_years_in_range",
            ),
            models.CheckConstraint(
                condition=Q(min_years__lte=models.F("max_years")), name="package_years_ordered"
            ),
            models.CheckConstraint(condition=Q(price_per_year_fen__gt=0), name="package_price_pos"),
        ]

    def __str__(self) -> str:
        return f"{self.ca.name} · {self.name}"

    @property
    def years_offered(self) -> range:
        return range(self.min_years, self.max_years + 1)


class AgreementVersion(models.Model):
    """A version of a CA's 业务协议书. The newest published one is current; old ones stay."""

    ca = models.ForeignKey(
        CAInstitution, on_delete=models.PROTECT, related_name="agreements", verbose_name="CA机构"
    )
    version = models.PositiveIntegerField("版本号")
    title = models.CharField("标题", max_length=100, default="数字证书业务协议书")
    body = models.TextField("正文")
    published_at = models.DateTimeField("发布时间")

    class Meta:
        verbose_name = "协议版本"
        verbose_name_plural = "协议版本"
        ordering = ["ca", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["ca", "version"], name="agreement_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.ca.name} · {self.title} v{self.version}"


class EnterpriseCertificate(models.Model):
    """An enterprise's certificate, issued for one order.

    The row is created with its serial *before* signing (status 签发中), then completed. One per
    order, and one pending or valid certificate per credit code, enforced by the database.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "签发中"
        VALID = "valid", "有效"
        EXPIRED = "expired", "已过期"
        REVOKED = "revoked", "已注销"
        SUPERSEDED = "superseded", "已续期"

    class RevocationReason(models.TextChoices):
        # RFC 5280 CRLReason values, with the words applicants use.
        KEY_COMPROMISE = "key_compromise", "挂失（证书可能被他人使用）"
        CESSATION = "cessation_of_operation", "注销（不再使用）"
        AFFILIATION_CHANGED = "affiliation_changed", "企业信息变更"
        SUPERSEDED = "superseded", "已续期"

    order = models.OneToOneField(
        "orders.Order",
        on_delete=models.PROTECT,
        related_name="certificate",
        verbose_name="订单",
    )
    ca = models.ForeignKey(
        CAInstitution, on_delete=models.PROTECT, related_name="issued", verbose_name="CA机构"
    )
    holder = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        related_name="enterprise_certificates",
        verbose_name="管理员",
    )
    status = models.CharField("状态", max_length=10, choices=Status.choices)
    enterprise_name = models.CharField("企业名称", max_length=100)
    credit_code = models.CharField("统一社会信用代码", max_length=18, db_index=True)
    legal_rep_name = models.CharField("法定代表人", max_length=30)
    serial_hex = models.CharField("序列号", max_length=40, unique=True)
    sha256_fingerprint = models.CharField("SHA-256 指纹", max_length=64, blank=True)
    not_before = models.DateTimeField("生效时间", null=True, blank=True)
    not_after = models.DateTimeField("失效时间", null=True, blank=True)
    certificate_pem = models.TextField("证书 (PEM)", blank=True)
    encrypted_private_key = models.BinaryField(editable=False, null=True, blank=True)
    official_seal = models.FileField("机构公章", upload_to="seals/%Y/%m/", blank=True)
    legal_rep_seal = models.FileField("法定代表人章", upload_to="seals/%Y/%m/", blank=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    issued_at = models.DateTimeField("签发时间", null=True, blank=True)
    revoked_at = models.DateTimeField("注销时间", null=True, blank=True)
    revocation_reason = models.CharField(
        "注销原因", max_length=30, choices=RevocationReason.choices, blank=True
    )
    revoked_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="注销人",
    )

    class Meta:
        verbose_name = "企业证书"
        verbose_name_plural = "企业证书"
        ordering = ["-created_at"]
        constraints = [
            # One valid certificate per enterprise. A renewal's certificate is reserved (pending)
            # while the old one is still valid; the swap happens in one transaction.
            models.UniqueConstraint(
                fields=["credit_code"],
                condition=Q(status="valid"),
                name="one_valid_certificate_per_credit_code",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enterprise_name} · {self.serial_hex}"


class SeatGrant(models.Model):
    """Employee seats an enterprise bought, beyond the administrator's own seat (which the
    package includes). They belong to the enterprise (credit code) and expire on their own date,
    so unexpired seats carry over to the enterprise's next certificate."""

    credit_code = models.CharField("统一社会信用代码", max_length=18, db_index=True)
    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="seat_grant", verbose_name="订单"
    )
    seats = models.PositiveIntegerField("授权数量")
    starts_at = models.DateTimeField("生效时间")
    expires_at = models.DateTimeField("到期时间", db_index=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "授权数量"
        verbose_name_plural = "授权数量"
        ordering = ["expires_at"]
        constraints = [
            models.CheckConstraint(condition=Q(seats__gt=0), name="seat_grant_seats_positive"),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("starts_at")), name="seat_grant_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credit_code} · {self.seats} 个至 {self.expires_at:%Y-%m-%d}"


class EmployeeAuthorization(models.Model):
    """An employee authorized to use the enterprise certificate (员工授权). The employee is
    known by phone number: whoever logs in with it sees the certificate as a user."""

    certificate = models.ForeignKey(
        EnterpriseCertificate,
        on_delete=models.PROTECT,
        related_name="employees",
        verbose_name="企业证书",
    )
    name = models.CharField("姓名", max_length=30)
    phone = models.CharField("手机号", max_length=11, db_index=True)
    added_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="添加人"
    )
    added_at = models.DateTimeField("添加时间", auto_now_add=True)
    removed_at = models.DateTimeField("移除时间", null=True, blank=True)

    class Meta:
        verbose_name = "员工授权"
        verbose_name_plural = "员工授权"
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["certificate", "phone"],
                condition=Q(removed_at__isnull=True),
                name="one_active_authorization_per_phone",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.phone}"


class ExpiryReminder(models.Model):
    """A reminder sent before a certificate or a seat grant expires: each one once."""

    certificate = models.ForeignKey(
        EnterpriseCertificate,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="reminders",
    )
    seat_grant = models.ForeignKey(
        SeatGrant, on_delete=models.CASCADE, null=True, blank=True, related_name="reminders"
    )
    days_before = models.PositiveSmallIntegerField("提前天数")
    sent_at = models.DateTimeField("发送时间", auto_now_add=True)

    class Meta:
        verbose_name = "到期提醒"
        verbose_name_plural = "到期提醒"
        constraints = [
            models.CheckConstraint(
                condition=Q(certificate__isnull=True) ^ Q(seat_grant__isnull=True),
                name="reminder_for_one_thing",
            ),
            models.UniqueConstraint(
                fields=["certificate", "days_before"], name="one_certificate_reminder_per_day"
            ),
            models.UniqueConstraint(
                fields=["seat_grant", "days_before"], name="one_seat_reminder_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.certificate or self.seat_grant} · {self.days_before}天"


class SigningRecord(models.Model):
    """签署记录: one PDF signed with an enterprise certificate — who, when, what (by hash)."""

    certificate = models.ForeignKey(
        EnterpriseCertificate,
        on_delete=models.PROTECT,
        related_name="signings",
        verbose_name="企业证书",
    )
    signer = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="+", verbose_name="签署人"
    )
    document_name = models.CharField("文件名", max_length=200)
    document_sha256 = models.CharField("原文件 SHA-256", max_length=64)
    signed_sha256 = models.CharField("签署后 SHA-256", max_length=64)
    page = models.PositiveIntegerField("盖章页")
    signed_at = models.DateTimeField("签署时间", auto_now_add=True)

    class Meta:
        verbose_name = "签署记录"
        verbose_name_plural = "签署记录"
        ordering = ["-signed_at"]

    def __str__(self) -> str:
        return f"{self.document_name} · {self.signed_at:%Y-%m-%d %H:%M}"


class CertificateRevocationList(models.Model):
    """A CRL signed by a CA certificate; the newest is served at its distribution point."""

    issuer = models.ForeignKey(
        CACertificate, on_delete=models.PROTECT, related_name="crls", verbose_name="签发者"
    )
    number = models.PositiveBigIntegerField("CRL 编号")
    this_update = models.DateTimeField("本次更新")
    next_update = models.DateTimeField("下次更新")
    der = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "证书吊销列表"
        verbose_name_plural = "证书吊销列表"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "number"], name="crl_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.issuer} · #{self.number}"
