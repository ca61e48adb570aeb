from django.contrib import admin
from django.urls import include, path

from . import views

admin.site.site_header = "粤企签 管理后台"
admin.site.site_title = "粤企签"
admin.site.index_title = "管理"

urlpatterns = [
    path("", views.home, name="home"),
    path("me/", views.me, name="me"),
    path("accounts/", include("accounts.urls")),
    path("orders/", include("orders.urls")),
    path("certificates/", include("certificates.urls")),
    path("sign/", include("certificates.signing_urls")),
    path("pay/", include("orders.payments.urls")),
    path("a/", include("authorization.urls")),
    path("transfer/", include("authorization.transfer_urls")),
    path("", include("certificates.revocation_urls")),
    path("admin/", admin.site.urls),
]

handler404 = "yueqiqian.views.page_not_found"
handler500 = "yueqiqian.views.server_error"
