from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from .faceauth import UNREADABLE_MESSAGE, SelfieUnreadable, selfie_inspect
from .identity import validate_chinese_name, validate_id_number
from .validators import phone_validator


class PhoneForm(forms.Form):
    phone = forms.CharField(
        label="手机号",
        max_length=11,
        validators=[phone_validator],
        error_messages={"required": "请输入手机号"},
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "tel",
                "placeholder": "请输入11位手机号",
                "maxlength": "11",
            }
        ),
    )

    def clean_phone(self) -> str:
        return self.cleaned_data["phone"].strip()


class LoginForm(PhoneForm):
    code = forms.RegexField(
        label="验证码",
        regex=r"^\d{6}$",
        error_messages={"required": "请输入验证码", "invalid": "验证码为6位数字"},
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "placeholder": "6位验证码",
                "maxlength": "6",
            }
        ),
    )


def size_label(size: int) -> str:
    """8388608 → '8MB', for messages about the upload limit."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g}MB"
    return f"{max(1, size // 1024)}KB"


class IdentityForm(forms.Form):
    """实名认证: 姓名, 身份证号 and the selfie for the face check.

    The selfie is judged by its content (decoded with Pillow), never by its name or declared
    type; `selfie_bytes` and `selfie_content_type` hold it after validation. `selfie_too_large`
    is set by the view when the upload handler stopped reading the file at the size limit.
    """

    real_name = forms.CharField(
        label="姓名",
        max_length=60,
        error_messages={"required": "请输入姓名", "max_length": "姓名过长，请核对"},
        widget=forms.TextInput(
            attrs={"autocomplete": "name", "placeholder": "与身份证一致", "spellcheck": "false"}
        ),
    )
    id_number = forms.CharField(
        label="身份证号",
        max_length=40,  # room for the spaces people type between groups of digits
        error_messages={"required": "请输入18位身份证号", "max_length": "请输入18位身份证号"},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "18位身份证号码",
            }
        ),
    )
    selfie = forms.FileField(
        label="拍摄人脸照片",
        error_messages={
            "required": "请拍摄人脸照片",
            "empty": "照片为空，请重新拍摄",
            "invalid": UNREADABLE_MESSAGE,
        },
        widget=forms.FileInput(attrs={"accept": "image/*", "capture": "user"}),
    )

    def __init__(self, *args, selfie_too_large: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.selfie_too_large = selfie_too_large
        self.selfie_bytes = b""
        self.selfie_content_type = ""

    def clean_real_name(self) -> str:
        return validate_chinese_name(self.cleaned_data["real_name"])

    def clean_id_number(self) -> str:
        return validate_id_number(self.cleaned_data["id_number"], today=timezone.localdate()).number

    def full_clean(self) -> None:
        # The upload handler dropped an oversized file, so "required" would be the wrong word.
        super().full_clean()
        if self.is_bound and self.selfie_too_large:
            self.errors.pop("selfie", None)
            self.cleaned_data.pop("selfie", None)
            self.add_error("selfie", self._too_large())

    def clean_selfie(self):
        selfie = self.cleaned_data["selfie"]
        if selfie.size > settings.YQ_SELFIE_MAX_BYTES:
            raise self._too_large()
        data = b"".join(selfie.chunks())
        try:
            info = selfie_inspect(data)
        except SelfieUnreadable:
            raise ValidationError(UNREADABLE_MESSAGE, code="unreadable") from None
        self.selfie_bytes = data
        self.selfie_content_type = info.content_type
        return selfie

    def autofocus_first_error(self) -> None:
        """Bring the first field in error into view (browsers and htmx honour `autofocus`), so
        a phone shows what to fix instead of the button it just pressed."""
        for name, field in self.fields.items():
            if name in self.errors:
                field.widget.attrs["autofocus"] = True
                return

    @staticmethod
    def _too_large() -> ValidationError:
        return ValidationError(
            "照片不能超过 %(limit)s",
            code="too_large",
            params={"limit": size_label(settings.YQ_SELFIE_MAX_BYTES)},
        )
