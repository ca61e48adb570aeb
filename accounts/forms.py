from django import forms

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
