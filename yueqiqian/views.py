from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.http import require_GET

from accounts.selectors import identity_for
from certificates.selectors import certificate_rows_first, certificate_rows_first_beside
from orders.selectors import (
    order_list_for_user,
    order_list_stamp_from,
    order_list_stamp_statement,
)
from yueqiqian.fragments import cached_fragment, settled


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    recent, certificates = "", []
    if request.user.is_authenticated:
        user = request.user
        # The orders' stamp and the certificate rows in one round trip.
        stamp, certificates = certificate_rows_first_beside(
            order_list_stamp_statement(user=user), user=user, limit=3
        )
        count, last_change = order_list_stamp_from(stamp)
        # Rendered again only when one of the user's orders changed (yueqiqian/fragments.py).
        recent = cached_fragment(
            "home.html#recent_orders",
            stamp=[user.pk, count, last_change],
            context=lambda: {"recent_orders": list(order_list_for_user(user=user)[:3])},
            cacheable=settled(last_change),
        )
    return render(
        request,
        "home.html",
        {"tab": "home", "recent_orders": recent, "certificates": certificates},
    )


@login_required
@require_GET
def me(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "me.html",
        {
            "tab": "me",
            "identity": identity_for(request.user),
            # 我的数字证书: what the user administers and what an administrator authorized them
            # to use (an employee is known by the phone number they log in with).
            "certificates": certificate_rows_first(user=request.user, limit=5),
        },
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: the failure may come from a context processor or the database.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
