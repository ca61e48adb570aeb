from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from .validators import phone_validator


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, phone: str, password: str | None = None, **extra) -> "User":
        user = self.model(phone=phone, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()  # applicants log in with SMS codes only
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, phone: str, password: str | None = None, **extra) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(phone, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Everyone who logs in: applicants and employees (SMS code), staff (password, admin)."""

    phone = models.CharField("手机号", max_length=11, unique=True, validators=[phone_validator])
    name = models.CharField("姓名", max_length=50, blank=True)
    # A CA reviewer belongs to one CA and sees only its orders (enforced in the admin).
    ca_institution = models.ForeignKey(
        "certificates.CAInstitution",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name="所属CA机构",
    )
    is_staff = models.BooleanField("管理后台", default=False)
    is_active = models.BooleanField("有效", default=True)
    date_joined = models.DateTimeField("注册时间", default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"

    def __str__(self) -> str:
        return f"{self.name} {self.phone}".strip()


class SmsCode(models.Model):
    """A one-time login code. Only its keyed hash is stored."""

    class Purpose(models.TextChoices):
        LOGIN = "login", "登录"

    phone = models.CharField("手机号", max_length=11)
    purpose = models.CharField("用途", max_length=20, choices=Purpose.choices)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField("发送时间", default=timezone.now)
    expires_at = models.DateTimeField("过期时间")
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField("错误次数", default=0)

    class Meta:
        verbose_name = "短信验证码"
        verbose_name_plural = "短信验证码"
        indexes = [models.Index(fields=["phone", "purpose", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.phone} · {self.get_purpose_display()}"


class Identity(models.Model):
    """The applicant's verified identity (实名认证): bound to one user, checked by a face check.

    The full ID number is kept for matching the legal representative; pages show it masked.
    """

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, related_name="identity", verbose_name="用户"
    )
    real_name = models.CharField("姓名", max_length=30)
    id_number = models.CharField("身份证号", max_length=18)
    verified_at = models.DateTimeField("认证时间")
    provider = models.CharField("核验渠道", max_length=50)
    provider_ref = models.CharField("核验流水号", max_length=100, blank=True)

    class Meta:
        verbose_name = "实名认证"
        verbose_name_plural = "实名认证"
        constraints = [
            # One person, one account: the database refuses a second binding of an ID number.
            models.UniqueConstraint(fields=["id_number"], name="identity_id_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.real_name} ({self.user.phone})"

    @property
    def id_number_masked(self) -> str:
        from .identity import mask_id_number

        return mask_id_number(self.id_number)
