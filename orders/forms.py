"""The four sections of the application (二)1, each validated on the server on its own."""

from collections.abc import Callable
from typing import Any

from django import forms
from django.db import models
from django.forms.renderers import BaseRenderer, get_default_renderer
from django.utils import timezone
from django.utils.html import conditional_escape as esc
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from accounts.identity import validate_chinese_name, validate_id_number
from accounts.validators import phone_validator
from certificates.models import CAInstitution, Package
from yueqiqian.templatetags.yq import yuan

from .enterprise import invoice_remark_required, validate_credit_code
from .models import Order

MAX_EXTRA_SEATS = 500


def _attrs_html(attrs: dict[str, Any]) -> str:
    """django/forms/widgets/attrs.html: True is a bare attribute, False none, in order.

    The templates escape what they print (`esc`), and a value through `stringformat` always
    (`escape`, which formats it with str() as `stringformat:'s'` does).
    """
    return "".join(
        f" {esc(name)}" if value is True else f' {esc(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input_html(widget: dict[str, Any]) -> str:
    """django/forms/widgets/input.html."""
    value = "" if widget["value"] is None else f' value="{escape(widget["value"])}"'
    return (
        f'<input type="{esc(widget["type"])}" name="{esc(widget["name"])}"'
        f"{value}{_attrs_html(widget['attrs'])}>"
    )


def _select_html(widget: dict[str, Any]) -> str:
    """django/forms/widgets/select.html with its select_option.html, whitespace and all (the
    option template's own line end included)."""
    parts = [f'<select name="{esc(widget["name"])}"{_attrs_html(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{esc(group_name)}">')
        parts.extend(
            f'\n  <option value="{escape(option["value"])}"'
            f"{_attrs_html(option['attrs'])}>{esc(option['label'])}</option>\n"
            for option in options
        )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


class SectionWidgetRenderer(BaseRenderer):
    """Renders the application's inputs and selects in Python, markup for markup as Django's
    widget templates do, and hands any other template to the project's form renderer.

    Through the widget templates (an include per attribute list and per option) the fields were
    most of the application page's time. tests/orders/test_application_page.py checks the markup
    against Django's, field by field.
    """

    FAST: dict[str, Callable[[dict[str, Any]], str]] = {
        "django/forms/widgets/input.html": _input_html,
        "django/forms/widgets/text.html": _input_html,
        "django/forms/widgets/email.html": _input_html,
        "django/forms/widgets/number.html": _input_html,
        "django/forms/widgets/select.html": _select_html,
    }

    def get_template(self, template_name: str):
        return get_default_renderer().get_template(template_name)

    def render(self, template_name: str, context: dict, request=None) -> SafeString | str:
        fast = self.FAST.get(template_name)
        if fast is None:
            return get_default_renderer().render(template_name, context, request)
        return mark_safe(fast(context["widget"]))  # noqa: S308 - every value is escaped above


class SectionForm(forms.Form):
    """A section of the application, its fields drawn by SectionWidgetRenderer."""

    default_renderer = SectionWidgetRenderer()


def _text(placeholder: str, **attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"placeholder": placeholder, **attrs})


class ApplicantForm(SectionForm):
    applicant_phone = forms.CharField(
        label="手机号",
        max_length=11,
        validators=[phone_validator],
        error_messages={"required": "请输入手机号"},
        widget=_text("11位手机号", inputmode="numeric", autocomplete="tel"),
    )
    applicant_email = forms.EmailField(
        label="邮箱",
        max_length=254,
        error_messages={"required": "请输入邮箱", "invalid": "请输入正确的邮箱地址"},
        widget=forms.EmailInput(attrs={"placeholder": "用于接收证书通知", "autocomplete": "email"}),
    )


class EnterpriseForm(SectionForm):
    enterprise_name = forms.CharField(
        label="企业名称",
        min_length=2,
        max_length=64,
        error_messages={
            "required": "请输入企业名称",
            "min_length": "企业名称至少2个字",
            "max_length": "企业名称不能超过64个字",
        },
        widget=_text("与营业执照一致"),
    )
    credit_code = forms.CharField(
        label="统一社会信用代码",
        max_length=30,
        error_messages={"required": "请输入18位统一社会信用代码"},
        widget=_text("18位统一社会信用代码", autocapitalize="characters"),
    )
    legal_rep_name = forms.CharField(
        label="法定代表人姓名",
        max_length=40,
        error_messages={"required": "请输入法定代表人姓名"},
        widget=_text("与营业执照一致"),
    )
    legal_rep_id_number = forms.CharField(
        label="法定代表人身份证号",
        max_length=30,
        error_messages={"required": "请输入法定代表人身份证号"},
        widget=_text("18位身份证号"),
    )
    enterprise_address = forms.CharField(
        label="企业地址",
        min_length=5,
        max_length=200,
        error_messages={"required": "请输入企业地址", "min_length": "请填写完整的企业地址"},
        widget=_text("营业执照上的住所"),
    )

    def clean_enterprise_name(self) -> str:
        return " ".join(self.cleaned_data["enterprise_name"].split())

    def clean_credit_code(self) -> str:
        return validate_credit_code(self.cleaned_data["credit_code"]).code

    def clean_legal_rep_name(self) -> str:
        return validate_chinese_name(self.cleaned_data["legal_rep_name"])

    def clean_legal_rep_id_number(self) -> str:
        return validate_id_number(
            self.cleaned_data["legal_rep_id_number"], today=timezone.localdate()
        ).number


class ShortListIterator(forms.models.ModelChoiceIterator):
    """The choices read in one plain query. ModelChoiceIterator reads them through a server-side
    cursor (DECLARE, FETCH, CLOSE: a round trip each), which only pays for long lists."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class ShortListChoiceField(forms.ModelChoiceField):
    """A choice among a handful of rows: the CAs, a CA's packages."""

    iterator = ShortListIterator


class PackageChoiceField(ShortListChoiceField):
    def label_from_instance(self, obj: Package) -> str:
        return f"{obj.name} · ¥{yuan(obj.price_per_year_fen)}/年"


class CertificateForm(SectionForm):
    ca = ShortListChoiceField(
        label="证书机构",
        queryset=CAInstitution.objects.filter(is_active=True),
        empty_label="请选择证书机构",
        error_messages={"required": "请选择证书机构", "invalid_choice": "请选择证书机构"},
    )
    package = PackageChoiceField(
        label="证书套餐",
        queryset=Package.objects.none(),
        empty_label="请选择证书套餐",
        error_messages={"required": "请选择证书套餐", "invalid_choice": "请重新选择证书套餐"},
    )
    years = forms.TypedChoiceField(
        label="证书有效期",
        coerce=int,
        choices=[],
        error_messages={"required": "请选择证书有效期", "invalid_choice": "请重新选择证书有效期"},
    )
    extra_seats = forms.IntegerField(
        label="额外授权员工数量",
        min_value=0,
        max_value=MAX_EXTRA_SEATS,
        initial=0,
        error_messages={
            "required": "请输入额外授权员工数量，不需要请填 0",
            "invalid": "请输入整数",
            "min_value": "不能小于 0",
            "max_value": f"不能超过 {MAX_EXTRA_SEATS}",
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": 0}),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        ca = self._chosen(
            "ca", CAInstitution.objects.filter(is_active=True), offered=lambda ca: ca.is_active
        )
        packages = Package.objects.filter(ca=ca, is_active=True) if ca else Package.objects.none()
        self.fields["package"].queryset = packages
        package = self._chosen(
            "package",
            packages,
            offered=lambda package: ca is not None and package.is_active and package.ca_id == ca.pk,
        )
        years = package.years_offered if package else range(0)
        self.fields["years"].choices = [("", "请选择有效期")] + [(y, f"{y}年") for y in years]

    def _chosen(self, name: str, queryset, *, offered: Callable[[Any], bool]):
        """The chosen CA or package if `queryset` offers it. The order's own choice comes as the
        row already loaded with the order: `offered` (the queryset's filter, in Python) checks it
        without fetching it again."""
        value = self.data.get(name) if self.is_bound else self.initial.get(name)
        if isinstance(value, models.Model):
            return value if offered(value) else None
        try:
            return queryset.filter(pk=int(value)).first() if value else None
        except (TypeError, ValueError):
            return None


class InvoiceForm(SectionForm):
    invoice_title = forms.CharField(
        label="发票抬头",
        max_length=100,
        error_messages={"required": "请输入发票抬头"},
        widget=_text("一般为企业名称"),
    )
    invoice_tax_id = forms.CharField(
        label="纳税人识别号",
        max_length=20,
        error_messages={"required": "请输入纳税人识别号"},
        widget=_text("一般为统一社会信用代码", autocapitalize="characters"),
    )
    invoice_email = forms.EmailField(
        label="接收邮箱",
        max_length=254,
        error_messages={"required": "请输入接收发票的邮箱", "invalid": "请输入正确的邮箱地址"},
        widget=forms.EmailInput(attrs={"placeholder": "电子发票将发送到此邮箱"}),
    )
    invoice_remark = forms.CharField(
        label="备注",
        max_length=200,
        required=False,
        widget=_text("发票抬头或纳税人识别号与企业信息不一致时必填"),
    )

    def __init__(self, *args, order: Order, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order = order

    def clean_invoice_tax_id(self) -> str:
        return "".join(self.cleaned_data["invoice_tax_id"].split()).upper()

    def clean(self) -> dict:
        data = super().clean()
        if (
            {"invoice_title", "invoice_tax_id"} <= data.keys()
            and invoice_remark_required(
                invoice_title=data["invoice_title"],
                taxpayer_id=data["invoice_tax_id"],
                enterprise_name=self.order.enterprise_name,
                credit_code=self.order.credit_code,
            )
            and not data.get("invoice_remark", "").strip()
        ):
            self.add_error(
                "invoice_remark", "发票抬头或纳税人识别号与企业信息不一致，请填写备注说明"
            )
        return data


SECTION_FORMS = {
    "applicant": ApplicantForm,
    "enterprise": EnterpriseForm,
    "certificate": CertificateForm,
    "invoice": InvoiceForm,
}


def section_form(section: str, order: Order, data=None) -> forms.Form:
    """The section's form, bound to `data` or filled from the order."""
    from .services import SECTION_FIELDS

    cls = SECTION_FORMS[section]
    initial = {name: getattr(order, name) for name in SECTION_FIELDS[section]}
    if section == "invoice":
        # Most enterprises invoice themselves: start from the enterprise's own details.
        initial["invoice_title"] = initial["invoice_title"] or order.enterprise_name
        initial["invoice_tax_id"] = initial["invoice_tax_id"] or order.credit_code
        initial["invoice_email"] = initial["invoice_email"] or order.applicant_email
    kwargs = {"order": order} if cls is InvoiceForm else {}
    return (
        cls(data, initial=initial, **kwargs) if data is not None else cls(initial=initial, **kwargs)
    )
