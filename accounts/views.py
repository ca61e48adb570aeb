import io
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopFutureHandlers
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from yueqiqian.http import client_ip
from yueqiqian.ratelimit import RateLimited

from .backends import BACKEND
from .forms import IdentityForm, LoginForm, PhoneForm
from .selectors import identity_for, login_code_cooldown
from .services import (
    IdentityAlreadyVerified,
    IdentityCheckFailed,
    IdentityNumberTaken,
    LoginCodeError,
    identity_verify,
    login_code_check,
    login_code_send,
)


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """One form, two buttons: 获取验证码 (action=send) and 登录 (action=login)."""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request))
    context: dict = {"next": _next_url(request), "tab": None}
    status = 200
    if request.method == "POST" and request.POST.get("action") == "send":
        form = PhoneForm(request.POST)
        if form.is_valid():
            try:
                sent = login_code_send(phone=form.cleaned_data["phone"], ip=client_ip(request))
            except RateLimited as exc:
                form.add_error(None, exc.message)
                status = 429
            else:
                context["sent"] = True
                context["countdown"] = settings.YQ_RATE_LIMITS["sms_send_phone_minute"][1]
                context["code_minutes"] = settings.YQ_SMS_CODE_TTL_SECONDS // 60
                if settings.DEBUG:
                    context["debug_code"] = sent.code
        else:
            status = 400
        # Re-bind as the full form so what the user typed is kept, without code errors.
        context["form"] = LoginForm(initial={"phone": request.POST.get("phone", "")})
        context["form_errors"] = form.errors.get("phone") or form.non_field_errors()
    elif request.method == "POST":
        form = LoginForm(request.POST)
        context["form"] = form
        if form.is_valid():
            try:
                user = login_code_check(
                    phone=form.cleaned_data["phone"],
                    code=form.cleaned_data["code"],
                    ip=client_ip(request),
                )
            except (LoginCodeError, RateLimited) as exc:
                form.add_error("code", exc.message)
                status = 429 if isinstance(exc, RateLimited) else 400
                # Keep the 获取验证码 countdown running across the re-rendered form.
                context["countdown"] = login_code_cooldown(phone=form.cleaned_data["phone"])
            else:
                login(request, user, backend=BACKEND)
                target = context["next"]
                if request.htmx:
                    return HttpResponseClientRedirect(target)
                return HttpResponseRedirect(target)
        else:
            status = 400
    else:
        context["form"] = LoginForm()
    template = "accounts/login.html#login_form" if request.htmx else "accounts/login.html"
    # htmx swaps only 2xx answers by default; the form carries its own errors, so answer 200
    # to htmx and the real status to plain form posts.
    return render(request, template, context, status=200 if request.htmx else status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")


class SelfieUploadHandler(FileUploadHandler):
    """Reads the one `selfie` file into memory and stops at the size limit.

    The selfie is never stored, not even as an upload temp file, and an oversized one is not
    read to the end into memory or onto disk. Other file fields are skipped.
    """

    field = "selfie"

    def __init__(self, request: HttpRequest, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False
        self.received = False

    def new_file(self, field_name, *args, **kwargs) -> None:
        if field_name != self.field or self.received:
            raise SkipFile
        super().new_file(field_name, *args, **kwargs)
        self.received = True
        self.buffer = io.BytesIO()
        raise StopFutureHandlers

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if start + len(raw_data) > self.max_bytes:
            self.too_large = True
            raise SkipFile
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> InMemoryUploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


def _has_next(request: HttpRequest) -> bool:
    return bool(request.POST.get("next") or request.GET.get("next"))


# CSRF is checked in _identity_view instead of by the middleware: the middleware reads the
# POST body for the token, and the body must be read with the selfie handler in place (the
# pattern Django's upload-handler documentation gives).
@csrf_exempt
@login_required
@require_http_methods(["GET", "POST"])
def identity_view(request: HttpRequest) -> HttpResponse:
    """实名认证: 姓名 + 身份证号 + a selfie for the face check; once verified, the identity."""
    handler = SelfieUploadHandler(request, max_bytes=settings.YQ_SELFIE_MAX_BYTES)
    request.upload_handlers = [handler]
    return _identity_view(request, handler)


@csrf_protect
def _identity_view(request: HttpRequest, handler: SelfieUploadHandler) -> HttpResponse:
    next_url = _next_url(request)
    identity = identity_for(request.user)
    if identity is not None:
        if request.method == "POST":
            messages.info(request, "您已完成实名认证，无需重复认证")
            target = f"{reverse('accounts:identity')}?{urlencode({'next': next_url})}"
            return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
        context = {"identity": identity, "next": next_url, "has_next": _has_next(request)}
        return render(request, "accounts/identity.html", context)

    status = 200
    if request.method == "POST":
        form = IdentityForm(request.POST, request.FILES, selfie_too_large=handler.too_large)
        if form.is_valid():
            try:
                identity_verify(
                    user=request.user,
                    real_name=form.cleaned_data["real_name"],
                    id_number=form.cleaned_data["id_number"],
                    selfie=form.selfie_bytes,
                    content_type=form.selfie_content_type,
                    ip=client_ip(request),
                )
            except RateLimited as exc:
                form.add_error(None, exc.message)
                status = 429
            except IdentityAlreadyVerified:
                messages.info(request, "您已完成实名认证，无需重复认证")
                target = f"{reverse('accounts:identity')}?{urlencode({'next': next_url})}"
                return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
            except IdentityNumberTaken as exc:
                form.add_error("id_number", exc.message)
                status = 409
            except IdentityCheckFailed as exc:
                form.add_error("selfie", exc.message)
                status = 400
            except ValidationError as exc:  # the form checks the same; kept as a safety net
                form.add_error(None, exc)
                status = 400
            else:
                messages.success(request, "实名认证成功")
                if request.htmx:
                    return HttpResponseClientRedirect(next_url)
                return HttpResponseRedirect(next_url)
        else:
            status = 400
        form.autofocus_first_error()
    else:
        form = IdentityForm()
    context = {"form": form, "next": next_url, "has_next": _has_next(request)}
    template = "accounts/identity.html#identity_form" if request.htmx else "accounts/identity.html"
    # As on the login page: htmx swaps only 2xx answers, plain form posts get the real status.
    return render(request, template, context, status=200 if request.htmx else status)
