"""对公银行账号转账验证授权 pages, for the order's applicant:

银行信息 (company, corporate account, 营业执照, signed 业务授权书 with 【下载业务授权书】)
→ 【下一步】 收款信息 (the CA's account, the amount, the remark) → 【上传凭证】 → 待审核.

Anyone else's order is a 404. The pages are open while the order awaits authorization, and
again after a rejection so the applicant can correct and resubmit. The forms live here, not in
a forms module: they belong to these two pages only.
"""

import re
import unicodedata

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders.models import Order
from orders.states import OrderKind, OrderStatus
from yueqiqian.ratelimit import RateLimited

from .transfer_services import (
    TRANSFER_STATUSES,
    TransferError,
    letter_email_send,
    transfer_documents_save,
    transfer_for,
    transfer_missing,
    transfer_rejection_reason,
    transfer_remark,
    transfer_start,
    transfer_submit,
)
from .uploads import (
    LimitedUploadHandler,
    UploadRejected,
    clean_upload,
    size_label,
    too_large_message,
    transfer_file_response,  # also serves the staff file view (authorization/review.py)
)

ACCEPT = "image/jpeg,image/png,application/pdf"
DOCUMENT_FIELDS = ("business_license", "signed_letter")
FILE_KINDS = {"license": "business_license", "letter": "signed_letter", "voucher": "voucher"}
UPLOAD_HINTS = {
    "business_license": "营业执照正本或副本的照片、扫描件",
    "signed_letter": "下载下方的业务授权书，法定代表人签字并加盖公章后上传",
}


# ---- Forms ------------------------------------------------------------------------------------


def _ascii_digits(value: str) -> str:
    """Full-width digits and spaces a Chinese keyboard types (１２３,　) → ASCII."""
    return unicodedata.normalize("NFKC", value or "").strip()


class UploadFormMixin:
    """File fields cleaned by authorization.uploads: by content, size-limited, re-encoded.

    `too_large` names the fields the upload handler dropped at the size limit. A cleaned file
    field holds a CleanFile, or None when nothing was chosen.
    """

    upload_fields: tuple[str, ...] = ()

    def __init__(self, *args, too_large: frozenset[str] = frozenset(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.too_large = too_large
        self.max_bytes = settings.YQ_UPLOAD_MAX_BYTES
        for name in self.upload_fields:
            self.fields[name].widget.attrs.update({"accept": ACCEPT})

    def _clean_upload(self, name: str):
        if name in self.too_large:
            raise forms.ValidationError(too_large_message(self.max_bytes))
        uploaded = self.cleaned_data.get(name)
        if not uploaded:
            return None
        try:
            return clean_upload(uploaded, max_bytes=self.max_bytes)
        except UploadRejected as exc:
            raise forms.ValidationError(exc.message) from None


def _upload_field(label: str) -> forms.FileField:
    return forms.FileField(
        label=label,
        required=False,
        # Emptiness and type are judged by clean_upload; these only cover Django's own checks.
        error_messages={"invalid": "文件无法读取，请重新选择", "empty": "文件为空，请重新选择"},
        widget=forms.FileInput(),
    )


class BankInfoForm(UploadFormMixin, forms.Form):
    company_name = forms.CharField(
        label="公司名称",
        max_length=100,
        error_messages={"required": "请输入公司名称", "max_length": "公司名称不能超过100个字"},
        widget=forms.TextInput(attrs={"autocomplete": "organization", "spellcheck": "false"}),
    )
    bank_account = forms.CharField(
        label="对公银行账号",
        max_length=60,
        error_messages={"required": "请输入对公银行账号", "max_length": "请核对对公银行账号"},
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "企业对公账户的账号",
            }
        ),
    )
    business_license = _upload_field("营业执照")
    signed_letter = _upload_field("已签字的业务授权书")

    upload_fields = DOCUMENT_FIELDS

    def clean_company_name(self) -> str:
        # Not NFKC-normalized: registered names use full-width brackets, 广州某某（集团）有限公司,
        # and must read exactly as the account's name does.
        name = " ".join(self.cleaned_data["company_name"].split())
        if not name:
            raise forms.ValidationError("请输入公司名称")
        return name

    def clean_bank_account(self) -> str:
        """Digits only, as the bank prints them: spaces and dashes people type are dropped."""
        account = re.sub(r"[\s-]", "", _ascii_digits(self.cleaned_data["bank_account"]))
        if not account.isascii() or not account.isdigit():
            raise forms.ValidationError("对公银行账号只能包含数字")
        if not 8 <= len(account) <= 30:
            raise forms.ValidationError("对公银行账号应为8至30位数字")
        return account

    def clean_business_license(self):
        return self._clean_upload("business_license")

    def clean_signed_letter(self):
        return self._clean_upload("signed_letter")

    def text_valid(self) -> bool:
        return not ({"company_name", "bank_account"} & set(self.errors))


class VoucherForm(UploadFormMixin, forms.Form):
    voucher = _upload_field("转账凭证")
    upload_fields = ("voucher",)

    def clean_voucher(self):
        return self._clean_upload("voucher")


class LetterEmailForm(forms.Form):
    email = forms.EmailField(
        label="邮箱",
        max_length=254,
        error_messages={"required": "请输入邮箱地址", "invalid": "请输入有效的邮箱地址"},
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "placeholder": "接收业务授权书的邮箱"}
        ),
    )


# ---- Helpers ----------------------------------------------------------------------------------


def _own_order(request: HttpRequest, number: str) -> Order:
    """The requesting applicant's new-certificate order; anyone else's is a 404."""
    return get_object_or_404(
        Order.objects.select_related("ca", "package"),
        number=number,
        applicant=request.user,
        kind=OrderKind.NEW_CERTIFICATE,
    )


def _open_for_transfer(request: HttpRequest, order: Order) -> HttpResponse | None:
    """A redirect to the order when it can no longer take a transfer, else None."""
    if order.status in TRANSFER_STATUSES:
        return None
    if order.status in (OrderStatus.PENDING_REVIEW, OrderStatus.PENDING_CA_REVIEW):
        messages.info(request, "转账凭证已提交，正在审核中")
    else:
        messages.info(request, "该订单当前无需办理对公转账授权")
    return redirect("orders:detail", order.number)


def _uploads_installed(request: HttpRequest, fields: tuple[str, ...]) -> LimitedUploadHandler:
    """Receive only these file fields, each up to YQ_UPLOAD_MAX_BYTES, before the body is read.

    That is why the upload views are csrf_exempt and check CSRF themselves: the middleware
    would read the body (for the token) before this handler is in place.
    """
    handler = LimitedUploadHandler(request, fields=fields, max_bytes=settings.YQ_UPLOAD_MAX_BYTES)
    request.upload_handlers = [handler]
    return handler


def _file_urls(order: Order, transfer) -> dict[str, str]:
    """The checked file view's address for each upload already stored."""
    if transfer is None:
        return {}
    return {
        field: reverse("transfer:file", args=[order.number, kind])
        for kind, field in FILE_KINDS.items()
        if getattr(transfer, field)
    }


def _uploads(form: forms.Form, order: Order, transfer, dropped: set[str]) -> list[dict]:
    """What each upload field shows: the input, and "已上传 ✓ 查看" when a file is stored."""
    urls = _file_urls(order, transfer)
    return [
        {
            "field": form[name],
            "url": urls.get(name),
            "dropped": name in dropped,
            "hint": UPLOAD_HINTS.get(name, ""),
        }
        for name in form.upload_fields
    ]


def _common_context(order: Order, transfer) -> dict:
    return {
        "order": order,
        "transfer": transfer,
        "step": 3,
        "upload_limit": size_label(settings.YQ_UPLOAD_MAX_BYTES),
        "rejection_reason": (
            transfer_rejection_reason(order, transfer)
            if order.status == OrderStatus.REJECTED
            else ""
        ),
    }


def _autofocus_first_error(form: forms.Form) -> None:
    """Bring the first field in error into view (browsers honour `autofocus`), so a phone shows
    what to fix rather than the button just pressed."""
    for name, field in form.fields.items():
        if name in form.errors:
            field.widget.attrs["autofocus"] = True
            return


def _letter_email_form(order: Order) -> LetterEmailForm:
    return LetterEmailForm(initial={"email": order.applicant_email})


# ---- 银行信息 -----------------------------------------------------------------------------------


@csrf_exempt
@login_required
@require_http_methods(["GET", "POST"])
def bank_info(request: HttpRequest, number: str) -> HttpResponse:
    """银行信息: 公司名称, 对公银行账号, 营业执照, 已签字的业务授权书; 【下一步】 saves and goes on.

    Valid company details are saved with whichever documents were valid, so a user who picked
    one bad file only picks that one again.
    """
    handler = _uploads_installed(request, DOCUMENT_FIELDS)
    return _bank_info(request, number, handler)


@csrf_protect
def _bank_info(request: HttpRequest, number: str, handler: LimitedUploadHandler) -> HttpResponse:
    order = _own_order(request, number)
    moved = _open_for_transfer(request, order)
    if moved:
        return moved
    transfer = transfer_for(order)
    dropped: set[str] = set()
    error = None
    if request.method == "POST":
        form = BankInfoForm(request.POST, request.FILES, too_large=frozenset(handler.too_large))
        form.is_valid()
        if form.text_valid():
            try:
                transfer = transfer_start(
                    order=order,
                    actor=request.user,
                    company_name=form.cleaned_data["company_name"],
                    bank_account=form.cleaned_data["bank_account"],
                )
                transfer = transfer_documents_save(
                    transfer=transfer,
                    business_license=form.cleaned_data.get("business_license"),
                    signed_letter=form.cleaned_data.get("signed_letter"),
                )
            except TransferError as exc:
                error = exc.message
            else:
                missing = set(transfer_missing(transfer))
                for name in DOCUMENT_FIELDS:
                    if name in missing and name not in form.errors:
                        form.add_error(name, f"请上传{form.fields[name].label}")
                if not form.errors:
                    return redirect("transfer:pay_info", order.number)
        else:
            # Nothing was saved: files that were fine must be chosen again.
            dropped = {name for name in DOCUMENT_FIELDS if form.cleaned_data.get(name) is not None}
    else:
        form = BankInfoForm(
            initial={
                "company_name": transfer.company_name if transfer else order.enterprise_name,
                "bank_account": transfer.bank_account if transfer else "",
            }
        )
    if form.is_bound and form.errors:
        _autofocus_first_error(form)
    context = {
        **_common_context(order, transfer),
        "form": form,
        "uploads": _uploads(form, order, transfer, dropped),
        "error": error,
        "email_form": _letter_email_form(order),
    }
    status = 400 if (form.is_bound and form.errors) or error else 200
    return render(request, "authorization/transfer_bank_info.html", context, status=status)


@login_required
@require_POST
def letter_email(request: HttpRequest, number: str) -> HttpResponse:
    """发送至邮箱: the 业务授权书 PDF to the address given (the applicant's by default)."""
    order = _own_order(request, number)
    form = LetterEmailForm(request.POST)
    sent_to = None
    if form.is_valid():
        try:
            sent_to = letter_email_send(
                order=order, actor=request.user, email=form.cleaned_data["email"]
            )
        except TransferError as exc:
            form.add_error("email" if exc.field else None, exc.message)
        except RateLimited as exc:
            form.add_error(None, exc.message)
    if request.htmx:
        # htmx swaps 2xx answers only: the form comes back with its message either way.
        return render(
            request,
            "authorization/transfer_bank_info.html#letter_email",
            {"order": order, "email_form": form, "sent_to": sent_to},
        )
    if sent_to:
        messages.success(request, f"业务授权书已发送至 {sent_to}，请查收")
    else:
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, errors[0] if errors else "发送失败，请重试")
    return redirect(f"{reverse('transfer:bank_info', args=[order.number])}#letter")


# ---- 【下一步】 收款信息 and 【上传凭证】 -----------------------------------------------------


@csrf_exempt
@login_required
@require_http_methods(["GET", "POST"])
def pay_info(request: HttpRequest, number: str) -> HttpResponse:
    """The CA's receiving account, the exact amount and the remark; 【上传凭证】 → 待审核."""
    handler = _uploads_installed(request, ("voucher",))
    return _pay_info(request, number, handler)


@csrf_protect
def _pay_info(request: HttpRequest, number: str, handler: LimitedUploadHandler) -> HttpResponse:
    order = _own_order(request, number)
    moved = _open_for_transfer(request, order)
    if moved:
        return moved
    transfer = transfer_for(order)
    if transfer_missing(transfer):
        messages.info(request, "请先填写银行信息并上传材料")
        return redirect("transfer:bank_info", order.number)
    error = None
    if request.method == "POST":
        form = VoucherForm(request.POST, request.FILES, too_large=frozenset(handler.too_large))
        if form.is_valid():
            try:
                transfer_submit(
                    order=order, actor=request.user, voucher=form.cleaned_data["voucher"]
                )
            except TransferError as exc:
                if exc.field:
                    form.add_error(exc.field, exc.message)
                else:
                    error = exc.message
            else:
                messages.success(request, "转账凭证已上传，请等待审核")
                return redirect("orders:detail", order.number)
        _autofocus_first_error(form)
    else:
        form = VoucherForm()
    ca = order.ca
    context = {
        **_common_context(order, transfer),
        "form": form,
        "uploads": _uploads(form, order, transfer, set()),
        "error": error,
        "ca": ca,
        "ca_account_digits": re.sub(r"\s", "", ca.bank_account_number),
        "amount_plain": f"{order.amount_fen // 100}.{order.amount_fen % 100:02d}",
        "remark": transfer_remark(order),
    }
    status = 400 if (form.is_bound and form.errors) or error else 200
    return render(request, "authorization/transfer_pay_info.html", context, status=status)


# ---- The uploads, for the applicant -----------------------------------------------------------


@login_required
@require_GET
def transfer_file(request: HttpRequest, number: str, kind: str) -> HttpResponse:
    """One of the applicant's own uploads, through the checked response (staff see them in the
    admin, through authorization.review.staff_transfer_file)."""
    if kind not in FILE_KINDS:
        raise Http404
    order = _own_order(request, number)
    transfer = transfer_for(order)
    if transfer is None:
        raise Http404
    return transfer_file_response(transfer, kind)
