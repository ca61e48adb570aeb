"""The applicant's pages: 订单管理, the application (填写信息 → 阅读协议 → 授权), order detail."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts.selectors import identity_for
from authorization.services import share_link_live_for
from certificates.models import SeatGrant
from certificates.selectors import agreement_current, seats_total
from invoices.forms import InvoiceEmailForm
from invoices.models import Invoice
from invoices.services import invoice_email_default
from yueqiqian.fragments import FRAGMENT_TIMEOUT, cached_fragment, fragment_key, settled
from yueqiqian.http import client_ip

from . import services
from .forms import SECTION_FORMS, section_form
from .models import Order
from .selectors import order_list_for_user, order_list_stamp, order_page_stamp, order_status_of
from .services import SECTION_FIELDS, SECTION_TITLES, ApplicationError
from .states import OrderKind, OrderStatus

PAGE_SIZE = 20


def _own_order(request: HttpRequest, number: str) -> Order:
    """The requesting applicant's order; anyone else's is a 404, never a 403 that confirms it."""
    return get_object_or_404(
        Order.objects.select_related("ca", "package"), number=number, applicant=request.user
    )


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _next_step_url(order: Order) -> str:
    """Where an unfinished order continues."""
    if order.status == OrderStatus.DRAFT:
        if services.order_sections_missing(order):
            return reverse("orders:apply", args=[order.number])
        return reverse("orders:agreement", args=[order.number])
    if order.status == OrderStatus.AWAITING_AUTHORIZATION:
        return reverse("orders:authorize", args=[order.number])
    return reverse("orders:detail", args=[order.number])


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    count, last_change = order_list_stamp(user=request.user)
    number = _page_number(request.GET.get("page"), count=count)
    # The rows are rendered again only when an order changed (yueqiqian/fragments.py).
    rows = cached_fragment(
        "orders/order_list.html#order_rows",
        stamp=[request.user.pk, number, count, last_change],
        context=lambda: {
            "page": Paginator(order_list_for_user(user=request.user), PAGE_SIZE).page(number)
        },
        cacheable=settled(last_change),
    )
    if request.htmx:
        return HttpResponse(rows)
    return render(request, "orders/order_list.html", {"tab": "orders", "order_rows": rows})


def _page_number(value: str | None, *, count: int) -> int:
    """?page=: not a number or below 1 → the first page, past the end → the last page."""
    last = max(1, -(-count // PAGE_SIZE))
    try:
        number = int(value or 1)
    except ValueError:
        return 1
    return min(max(number, 1), last)


@login_required
@require_GET
def apply_start(request: HttpRequest) -> HttpResponse:
    """【办理】: an applicant without 实名认证 goes to 【去认证】 first; then the application."""
    if identity_for(request.user) is None:
        return redirect(f"{reverse('accounts:identity')}?next={reverse('orders:apply_start')}")
    order = services.order_draft_for(applicant=request.user)
    return redirect(_next_step_url(order))


# The page's content is cached with this where the open form's CSRF token goes (see apply): a
# value nobody can type without SECRET_KEY, the same in every process.
_CSRF_SLOT = salted_hmac("orders.apply", "csrf-token-slot", algorithm="sha256").hexdigest()

# 待填写 says what a folded section still needs: its required fields without a default value, as
# the form labels them.
_SECTION_ASKS = {
    name: "、".join(
        str(field.label)
        for field in form.base_fields.values()
        if field.required and field.initial is None
    )
    for name, form in SECTION_FORMS.items()
}


def _section(
    order: Order, name: str, *, missing: list[str], open: bool, form=None, **state
) -> dict:
    """One section of the page. Only an open section builds its form (证书信息's CA and package
    lists are queries); a collapsed one shows what was saved, or what it still needs."""
    return {
        "name": name,
        "title": SECTION_TITLES[name],
        "complete": name not in missing,
        "open": open,
        "form": (form or section_form(name, order)) if open else None,
        "asks": _SECTION_ASKS[name],
        **state,
    }


def _content_context(
    request: HttpRequest,
    order: Order,
    *,
    missing: list[str],
    open_name: str | None,
    bound=None,
    error: ApplicationError | None = None,
) -> dict:
    """What `apply.html#content` shows: the four sections, `open_name` open (with the `bound`
    form, when it has errors), the others folded."""
    return {
        "order": order,
        "identity": identity_for(request.user),
        "sections": [
            _section(order, name, missing=missing, open=name == open_name, form=bound)
            if name == open_name
            else _section(order, name, missing=missing, open=False)
            for name in SECTION_FIELDS
        ],
        "apply_url": reverse("orders:apply", args=[order.number]),
        "step": 1,
        "section_error": error,
    }


def _content(request: HttpRequest, order: Order, *, asked: str | None) -> tuple[str, bool]:
    """The page's content with the section `asked` for open (else the first still to fill), and
    whether it may be cached: not with an open 证书信息, whose CA and package lists are read
    afresh every time, nor before the applicant's identity is verified (it may come any time;
    once there it never changes)."""
    missing = services.order_sections_missing(order)
    open_name = asked if asked in SECTION_FIELDS else next(iter(missing), None)
    context = _content_context(request, order, missing=missing, open_name=open_name)
    context["csrf_token"] = _CSRF_SLOT
    content = render_to_string("orders/apply.html#content", context)
    return content, open_name != "certificate" and context["identity"] is not None


def _page_stamp(request: HttpRequest, number: str) -> tuple:
    """The applicant's order's status and all the page shows that can change: the order (every
    write moves its `updated_at`) and the names of its CA and package. One light query."""
    stamp = order_page_stamp(number=number, user=request.user)
    if stamp is None:
        raise Http404
    return stamp


@login_required
@require_GET
@vary_on_headers("HX-Request")  # one address, a section or the whole page
def apply(request: HttpRequest, number: str) -> HttpResponse:
    """(二)1 填写信息: one section open as a form — the one asked for (?open=, 【修改】 or
    【填写】), else the first still to fill — and the others folded.

    The page's content is cached under its stamp (`_page_stamp`), so while the order stays as it
    is the page costs that one query. The open form's CSRF token is cached as a placeholder:
    each response masks it afresh (BREACH)."""
    asked = request.GET.get("open")
    if request.htmx and asked in SECTION_FIELDS:
        # 【修改】/【填写】 with htmx: just that section, open, in place of its summary.
        order = _own_order(request, number)
        if order.status != OrderStatus.DRAFT:
            return _redirect(request, _next_step_url(order))
        missing = services.order_sections_missing(order)
        return render(
            request,
            "orders/apply.html#section",
            {
                "order": order,
                "identity": identity_for(request.user) if asked == "applicant" else None,
                "section": _section(order, asked, missing=missing, open=True),
            },
        )
    status, *stamp = _page_stamp(request, number)
    if status != OrderStatus.DRAFT:
        return redirect(_next_step_url(_own_order(request, number)))
    # The key's digest of the deployed sources covers the included templates and the Python
    # field markup. The slot is derived from SECRET_KEY: content cached by a process with
    # another key (a rotation) must not be served here, its slot would not be replaced.
    opened = asked if asked in SECTION_FIELDS else ""
    key = fragment_key("orders/apply.html#content", [number, *stamp, opened, _CSRF_SLOT])
    content = cache.get(key)
    if content is None:
        content, cacheable = _content(request, _own_order(request, number), asked=asked)
        if cacheable:
            cache.set(key, content, FRAGMENT_TIMEOUT)
    content = mark_safe(content.replace(_CSRF_SLOT, get_token(request)))  # noqa: S308 - ours
    return render(request, "orders/apply.html", {"content": content})


@login_required
@require_POST
def apply_section(request: HttpRequest, number: str, section: str) -> HttpResponse:
    """Save one section as the user goes. Errors come back in the section, with what was typed.

    A section saved with 保存 folds into its summary and the next one still to fill opens (with
    htmx: unless the user has it open already, typing); 证书信息 saved on a change (below)
    stays open, the user still choosing.
    """
    if section not in SECTION_FIELDS:
        raise Http404
    order = _own_order(request, number)
    if order.status != OrderStatus.DRAFT:
        return _redirect(request, _next_step_url(order))
    form = section_form(section, order, request.POST)
    saved = False
    error = None
    # 证书信息 is also posted on every change, without 保存 (the package list follows the CA and
    # the price follows the choices): it is saved once complete, and an incomplete choice is
    # re-rendered without scolding the user mid-way.
    refresh_only = section == "certificate" and "_save" not in request.POST
    if form.is_valid():
        try:
            services.order_section_save(order=order, section=section, data=form.cleaned_data)
            saved = True
        except ApplicationError as exc:
            error = exc
    elif refresh_only:
        form.errors.clear()
    missing = services.order_sections_missing(order)
    folds = saved and not refresh_only
    following = next((name for name in missing if name != section), None) if folds else None
    apply_url = reverse("orders:apply", args=[order.number])
    if request.htmx:
        others = []
        if saved and section == "enterprise" and not order.invoice_title:
            # The invoice starts from the enterprise's own details: refresh its prefill.
            others.append(_section(order, "invoice", missing=missing, open=True, oob="true"))
        if following and following not in {other["name"] for other in others}:
            # Opened only where the page shows it folded: one the user has open keeps what is typed.
            others.append(
                _section(
                    order,
                    following,
                    missing=missing,
                    open=True,
                    oob=f"outerHTML:#{following}.is-collapsed",
                )
            )
        shown = {section, *(other["name"] for other in others)}
        context = {
            "order": order,
            "identity": identity_for(request.user) if "applicant" in shown else None,
            "section": _section(
                order, section, missing=missing, open=not folds, form=form, saved=saved, error=error
            ),
            "oob_sections": others,
            "apply_url": apply_url,
        }
        return render(request, "orders/apply.html#saved", context)
    if folds:
        # To the section to fill next, open (the page opens the first still to fill).
        return redirect(f"{apply_url}#{following or section}")
    if saved:
        return redirect(f"{apply_url}?open={section}#{section}")
    context = _content_context(
        request, order, missing=missing, open_name=section, bound=form, error=error
    )
    content = render_to_string("orders/apply.html#content", context, request)
    return render(request, "orders/apply.html", {"content": content}, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def agreement(request: HttpRequest, number: str) -> HttpResponse:
    """(二)2 阅读协议: the chosen CA's current agreement; 【下一步】 only after 同意."""
    order = _own_order(request, number)
    if order.status != OrderStatus.DRAFT:
        return redirect(_next_step_url(order))
    missing = services.order_sections_missing(order)
    if missing:
        messages.error(request, "请先完整填写：" + "、".join(SECTION_TITLES[m] for m in missing))
        return redirect("orders:apply", order.number)
    current = agreement_current(ca=order.ca)
    if current is None:
        raise Http404("该证书机构暂无业务协议")
    error = None
    if request.method == "POST":
        if request.POST.get("agree") != "on":
            error = "请阅读并勾选同意业务协议书"
        elif request.POST.get("version") != str(current.version):
            error = "协议已更新，请阅读最新版本后再同意"
        else:
            try:
                services.agreement_accept(
                    order=order,
                    actor=request.user,
                    agreement=current,
                    ip=client_ip(request),
                    user_agent=request.META.get("HTTP_USER_AGENT", ""),
                )
            except ApplicationError as exc:
                error = exc.message
            except services.TransitionConflict:
                return _redirect(request, reverse("orders:detail", args=[order.number]))
            else:
                return _redirect(request, reverse("orders:authorize", args=[order.number]))
    return render(
        request,
        "orders/agreement.html",
        {"order": order, "agreement": current, "error": error, "step": 2},
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest, number: str) -> HttpResponse:
    """(二)3: the legal representative confirms the 业务授权书 himself, or chooses how to get
    the legal representative's authorization."""
    order = _own_order(request, number)
    if order.status != OrderStatus.AWAITING_AUTHORIZATION:
        return redirect(_next_step_url(order))
    identity = identity_for(request.user)
    if services.applicant_is_legal_rep(order=order, identity=identity):
        if request.method == "POST":
            try:
                services.legal_rep_self_confirm(order=order, actor=request.user, identity=identity)
            except (ApplicationError, services.TransitionConflict) as exc:
                messages.error(request, getattr(exc, "message", "订单状态已变化，请刷新"))
            return _redirect(request, reverse("orders:detail", args=[order.number]))
        from authorization.letter import authorization_letter, letter_data_for

        letter = authorization_letter(
            letter_data_for(order, applicant_identity=identity, today=timezone.localdate())
        )
        return render(
            request,
            "orders/authorize_self.html",
            {"order": order, "letter": letter, "step": 3},
        )
    if request.method == "POST":
        raise Http404
    return render(request, "orders/authorize_choose.html", {"order": order, "step": 3})


def _share_context(request: HttpRequest, order: Order) -> dict:
    """法定代表人刷脸验证授权 on the order page: whether 【分享给法定代表人授权】 is offered,
    and the live link the status panel polls for (two queries, only while the order awaits
    authorization)."""
    if order.status != OrderStatus.AWAITING_AUTHORIZATION or not order.in_province:
        return {"can_share": False, "share_link": None}
    if services.applicant_is_legal_rep(order=order, identity=identity_for(request.user)):
        return {"can_share": False, "share_link": None}
    return {"can_share": True, "share_link": share_link_live_for(order=order)}


def _invoice_context(order: Order) -> dict:
    """【下载发票】 on a completed order: the invoice once rendered (发票生成中 until then) and
    the 发送至邮箱 form, offering the order's invoice e-mail first."""
    if order.status != OrderStatus.COMPLETED:
        return {"invoice": None, "invoice_email_form": None}
    return {
        "invoice": Invoice.objects.filter(order=order).first(),
        "invoice_email_form": InvoiceEmailForm(initial={"email": invoice_email_default(order)}),
    }


def _topup_context(order: Order) -> dict:
    """A top-up's certificate, and once paid, its seat grant and the seats now in force."""
    if order.kind != OrderKind.SEAT_TOPUP:
        return {}
    target = order.target_certificate
    grant = (
        SeatGrant.objects.filter(order=order).first()
        if order.status == OrderStatus.COMPLETED
        else None
    )
    in_force = target is not None and target.status == target.Status.VALID
    return {
        # 选择数量 → 订单详情 → 支付: this page is 订单详情 until paid, then all are done.
        "topup_step": {OrderStatus.AWAITING_PAYMENT: 2, OrderStatus.COMPLETED: 4}.get(order.status),
        "target_certificate": target,
        "seat_grant": grant,
        "topup_seats_total": seats_total(target) if grant and in_force else None,
    }


# While an order waits in one of these, its status panel shows nothing that can change but the
# status itself; the panel's poll says which status it shows (`seen=`) and gets an empty answer
# until that changes. (A panel waiting on a share link is not here: the link can expire.)
_QUIET_STATUSES = frozenset({OrderStatus.ISSUING, OrderStatus.AWAITING_PAYMENT})


def _status_unchanged(request: HttpRequest, number: str) -> bool:
    """True when the polled order still has the status the page shows: one indexed lookup of
    one column, instead of the whole panel every 2 s for as long as issuance takes."""
    seen = request.GET.get("seen")
    if seen not in _QUIET_STATUSES:
        return False
    return order_status_of(number=number, user=request.user) == seen


@login_required
@require_GET
def detail(request: HttpRequest, number: str) -> HttpResponse:
    if (
        request.htmx
        and request.GET.get("fragment") == "status"
        and _status_unchanged(request, number)
    ):
        return HttpResponse(status=204)  # htmx keeps the panel as it is and polls again
    order = _own_order(request, number)
    certificate = (
        getattr(order, "certificate", None)
        if order.status == OrderStatus.COMPLETED and order.kind == OrderKind.NEW_CERTIFICATE
        else None
    )
    context = {
        "order": order,
        "certificate": certificate,
        "seats_total": seats_total(certificate) if certificate else None,
        "continue_url": _next_step_url(order),
        "events": order.events.all(),
        "tab": "orders",
        **_share_context(request, order),
        **_invoice_context(order),
        **_topup_context(order),
    }
    fragment = request.GET.get("fragment") if request.htmx else None
    if fragment == "status":
        # The step indicator outside the panel follows too (out of band).
        return render(request, "orders/detail.html#status_panel", {**context, "fragment": True})
    if fragment == "invoice":
        # 发票生成中 polls this until the invoice is rendered; only a completed order has one.
        if order.status != OrderStatus.COMPLETED:
            return HttpResponse(status=204)
        return render(request, "orders/detail.html#invoice_panel", context)
    return render(request, "orders/detail.html", context)


@login_required
@require_POST
def cancel(request: HttpRequest, number: str) -> HttpResponse:
    order = _own_order(request, number)
    try:
        services.order_cancel(order=order, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "订单已取消")
    return _redirect(request, reverse("orders:detail", args=[order.number]))
