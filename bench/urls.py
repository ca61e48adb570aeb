"""The site's urlconf plus `bench/floor/`, served only by the benchmark's gunicorn."""

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path

from orders.models import Order
from yueqiqian.urls import handler404, handler500
from yueqiqian.urls import urlpatterns as site_urlpatterns

_FLOOR = engines["django"].from_string(
    "<!doctype html><title>floor</title><ul>"
    "{% for o in rows %}<li>{{ o.number }} {{ o.status }} {{ o.amount_fen }}</li>{% endfor %}"
    "</ul>"
)


def floor_view(request: HttpRequest) -> HttpResponse:
    """The floor: one query of 20 rows and a small template, through the full middleware stack
    (no session lookup: the request carries no cookie)."""
    rows = list(Order.objects.only("number", "status", "amount_fen").order_by("-id")[:20])
    return HttpResponse(_FLOOR.render({"rows": rows}, request))


urlpatterns = [path("bench/floor/", floor_view), *site_urlpatterns]
__all__ = ["handler404", "handler500", "urlpatterns"]
