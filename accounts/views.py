from django.conf import settings
from django.contrib.auth import login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from yueqiqian.http import client_ip
from yueqiqian.ratelimit import RateLimited

from .forms import LoginForm, PhoneForm
from .selectors import login_code_cooldown
from .services import LoginCodeError, login_code_check, login_code_send


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
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
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
