from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .selectors import order_list_for_user

PAGE_SIZE = 20


@login_required
@require_GET
def order_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(order_list_for_user(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    template = "orders/order_list.html#order_rows" if request.htmx else "orders/order_list.html"
    return render(request, template, {"tab": "orders", "page": page})
