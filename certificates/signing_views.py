"""电子签章 pages: 签署 (upload a PDF, choose the page and place of the seal, a fresh face
check, 【签署】 → the signed PDF downloads), 签署记录, and the public 验证签章 page.

Signing answers with the signed PDF itself, as an attachment: the document is never stored, so
there is nothing to fetch later. Without JavaScript the browser downloads it and stays on the
form; static/js/signing.js posts the same form with fetch, saves the file and shows 签署完成.

Uploads are received in memory by a handler installed before the body is read, each field up
to its own limit; that is why the upload views are csrf_exempt and check CSRF themselves (as in
accounts.views and authorization.transfer_views).
"""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from accounts.faceauth import UNREADABLE_MESSAGE, SelfieUnreadable, selfie_inspect
from accounts.selectors import identity_for
from authorization.uploads import (
    LimitedUploadHandler,
    UploadRejected,
    clean_upload,
    size_label,
    too_large_message,
)
from yueqiqian.http import client_ip
from yueqiqian.ratelimit import RateLimited

from .signing import SealPosition, Verdict
from .signing_services import (
    SigningRefused,
    document_sign,
    document_verify,
    signing_certificate_for,
    signing_records_for,
    signing_refusal,
)

PDF_ONLY_MESSAGE = "请上传 PDF 文件"
RECORDS_PAGE_SIZE = 20
VERDICT_TEXT = {
    Verdict.VALID: "签名有效：文件自签署后未被修改，签名证书由本平台 CA 签发。",
    Verdict.MODIFIED: "文件在签署后被修改过，签名已不能证明文件内容。",
    Verdict.UNTRUSTED: "签名证书不是由本平台的 CA 签发，本平台无法证明签署人的身份。",
    Verdict.UNSIGNED: "这个 PDF 文件中没有数字签名。",
    Verdict.UNREADABLE: "无法读取这个文件，请确认上传的是 PDF 文件。",
}


class FieldLimitedUploadHandler(LimitedUploadHandler):
    """LimitedUploadHandler with a limit per field: the PDF may be larger than the selfie."""

    def __init__(self, request: HttpRequest, *, limits: dict[str, int]) -> None:
        super().__init__(request, fields=tuple(limits), max_bytes=max(limits.values()))
        self.limits = limits

    def new_file(self, field_name: str, *args, **kwargs) -> None:
        self.max_bytes = self.limits.get(field_name, 0)
        super().new_file(field_name, *args, **kwargs)


def _pdf_upload(form: forms.Form, name: str) -> tuple[bytes, str]:
    """The PDF in `name` checked by authorization.uploads (parses, no scripts or attachments,
    not encrypted), with the user's file name; ValidationError for the page otherwise."""
    if name in form.too_large:
        raise forms.ValidationError(too_large_message(settings.YQ_UPLOAD_MAX_BYTES))
    uploaded = form.cleaned_data[name]
    uploaded.seek(0)
    if uploaded.read(5) != b"%PDF-":
        raise forms.ValidationError(PDF_ONLY_MESSAGE)
    try:
        clean = clean_upload(uploaded, max_bytes=settings.YQ_UPLOAD_MAX_BYTES)
    except UploadRejected as exc:
        raise forms.ValidationError(exc.message) from None
    return clean.content, uploaded.name or ""


class SignForm(forms.Form):
    document = forms.FileField(
        label="签署文件",
        error_messages={"required": "请选择要签署的 PDF 文件", "empty": "文件为空，请重新选择"},
        widget=forms.FileInput(attrs={"accept": "application/pdf,.pdf"}),
    )
    page = forms.IntegerField(
        label="盖章页码",
        min_value=1,
        max_value=9999,
        initial=1,
        error_messages={
            "required": "请填写盖章页码",
            "invalid": "盖章页码请填写数字",
            "min_value": "盖章页码从 1 开始",
            "max_value": "盖章页码超出文件页数",
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "min": "1", "step": "1"}),
    )
    position = forms.ChoiceField(
        label="盖章位置",
        choices=SealPosition.choices,
        initial=SealPosition.BOTTOM_RIGHT,
        error_messages={"required": "请选择盖章位置", "invalid_choice": "请选择盖章位置"},
        widget=forms.RadioSelect,
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

    def __init__(self, *args, too_large: frozenset[str] = frozenset(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.too_large = too_large
        self.pdf = b""
        self.document_name = ""
        self.selfie_bytes = b""
        self.selfie_content_type = ""

    def full_clean(self) -> None:
        # The upload handler dropped an oversized file, so "required" would be the wrong word.
        super().full_clean()
        if not self.is_bound:
            return
        for name in self.too_large & {"document", "selfie"}:
            self.errors.pop(name, None)
            self.add_error(name, self._too_large(name))

    def _too_large(self, name: str) -> str:
        if name == "selfie":
            return f"照片不能超过 {size_label(settings.YQ_SELFIE_MAX_BYTES)}"
        return too_large_message(settings.YQ_UPLOAD_MAX_BYTES)

    def clean_document(self):
        self.pdf, self.document_name = _pdf_upload(self, "document")
        return self.cleaned_data["document"]

    def clean_selfie(self):
        selfie = self.cleaned_data["selfie"]
        if selfie.size > settings.YQ_SELFIE_MAX_BYTES:
            raise forms.ValidationError(self._too_large("selfie"))
        data = b"".join(selfie.chunks())
        try:
            info = selfie_inspect(data)
        except SelfieUnreadable:
            raise forms.ValidationError(UNREADABLE_MESSAGE, code="unreadable") from None
        self.selfie_bytes = data
        self.selfie_content_type = info.content_type
        return selfie

    def autofocus_first_error(self) -> None:
        """Bring the first field in error into view, so a phone shows what to fix."""
        for name, field in self.fields.items():
            if name in self.errors:
                field.widget.attrs["autofocus"] = True
                return


class VerifyForm(forms.Form):
    document = forms.FileField(
        label="已签章的 PDF 文件",
        error_messages={"required": "请选择要验证的 PDF 文件", "empty": "文件为空，请重新选择"},
        widget=forms.FileInput(attrs={"accept": "application/pdf,.pdf"}),
    )

    def __init__(self, *args, too_large: frozenset[str] = frozenset(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.too_large = too_large

    def full_clean(self) -> None:
        super().full_clean()
        if self.is_bound and "document" in self.too_large:
            self.errors.pop("document", None)
            self.add_error("document", too_large_message(settings.YQ_UPLOAD_MAX_BYTES))

    def clean_document(self):
        uploaded = self.cleaned_data["document"]
        if uploaded.size > settings.YQ_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(too_large_message(settings.YQ_UPLOAD_MAX_BYTES))
        return uploaded


# ---- 签署 ---------------------------------------------------------------------------------------


def _certificate(request: HttpRequest, pk: int):
    """The certificate if the user holds it or is an active employee on it; else a 404 (never a
    403 that would confirm the certificate exists)."""
    certificate = signing_certificate_for(user=request.user, pk=pk)
    if certificate is None:
        raise Http404
    return certificate


def _signed_pdf_response(signed) -> HttpResponse:
    response = HttpResponse(signed.content, content_type="application/pdf")
    # RFC 6266 / 5987: filename*=utf-8''… for the Chinese name.
    response["Content-Disposition"] = content_disposition_header(True, signed.download_name)
    response["Content-Length"] = str(len(signed.content))
    add_never_cache_headers(response)
    return response


@csrf_exempt
@login_required
@require_http_methods(["GET", "POST"])
def sign(request: HttpRequest, pk: int) -> HttpResponse:
    """签署: 签署文件 (PDF), 盖章页码, 盖章位置, a selfie → 【签署】 → the signed PDF."""
    handler = FieldLimitedUploadHandler(
        request,
        limits={
            "document": settings.YQ_UPLOAD_MAX_BYTES,
            "selfie": settings.YQ_SELFIE_MAX_BYTES,
        },
    )
    request.upload_handlers = [handler]
    return _sign(request, pk, handler)


@csrf_protect
def _sign(request: HttpRequest, pk: int, handler: FieldLimitedUploadHandler) -> HttpResponse:
    certificate = _certificate(request, pk)
    identity = identity_for(request.user)
    blocked = signing_refusal(certificate, user=request.user)
    status = 200
    form = None
    if identity is not None and not blocked:
        if request.method == "POST":
            form = SignForm(request.POST, request.FILES, too_large=frozenset(handler.too_large))
            status = 400
            if form.is_valid():
                try:
                    signed = document_sign(
                        certificate=certificate,
                        signer=request.user,
                        document=form.pdf,
                        document_name=form.document_name,
                        page=form.cleaned_data["page"],
                        position=form.cleaned_data["position"],
                        selfie=form.selfie_bytes,
                        selfie_content_type=form.selfie_content_type,
                        ip=client_ip(request),
                    )
                except RateLimited as exc:
                    form.add_error(None, exc.message)
                    status = 429
                except SigningRefused as exc:
                    form.add_error(exc.field, exc.message)
                    status = 409 if exc.field is None else 400
                else:
                    return _signed_pdf_response(signed)
            form.autofocus_first_error()
        else:
            form = SignForm()
    elif request.method == "POST":
        status = 409
    context = {
        "certificate": certificate,
        "is_holder": certificate.is_holder,
        "identity": identity,
        "blocked": blocked,
        "form": form,
        "upload_limit": size_label(settings.YQ_UPLOAD_MAX_BYTES),
    }
    response = render(request, "signing/sign.html", context, status=status)
    add_never_cache_headers(response)
    return response


@login_required
@require_GET
def records(request: HttpRequest, pk: int) -> HttpResponse:
    """签署记录: the holder sees every signing with the certificate, an employee their own."""
    certificate = _certificate(request, pk)
    page = Paginator(
        signing_records_for(certificate=certificate, user=request.user), RECORDS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    template = "signing/records.html#record_rows" if request.htmx else "signing/records.html"
    return render(
        request,
        template,
        {"certificate": certificate, "is_holder": certificate.is_holder, "page": page},
    )


# ---- 验证签章 (public) ---------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """验证签章: anyone uploads a signed PDF and reads who signed it, when, under which CA,
    whether it changed since, and the certificate's status now. The file is not kept."""
    handler = LimitedUploadHandler(
        request, fields=("document",), max_bytes=settings.YQ_UPLOAD_MAX_BYTES
    )
    request.upload_handlers = [handler]
    return _verify(request, handler)


@csrf_protect
def _verify(request: HttpRequest, handler: LimitedUploadHandler) -> HttpResponse:
    result = None
    status = 200
    if request.method == "POST":
        form = VerifyForm(request.POST, request.FILES, too_large=frozenset(handler.too_large))
        if form.is_valid():
            data = b"".join(form.cleaned_data["document"].chunks())
            try:
                result = document_verify(pdf=data, ip=client_ip(request))
            except RateLimited as exc:
                form.add_error(None, exc.message)
                status = 429
        else:
            status = 400
    else:
        form = VerifyForm()
    context = {
        "form": form,
        "result": result,
        "verdict_text": VERDICT_TEXT.get(result.verdict, "") if result else "",
        "upload_limit": size_label(settings.YQ_UPLOAD_MAX_BYTES),
    }
    response = render(request, "signing/verify.html", context, status=status)
    add_never_cache_headers(response)
    return response
