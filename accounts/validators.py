from django.core.validators import RegexValidator

# Mainland mobile numbers: 11 digits, 1 then 3–9.
PHONE_RE = r"^1[3-9]\d{9}$"
phone_validator = RegexValidator(PHONE_RE, "请输入正确的11位手机号")
