from django.urls import path

from . import views

app_name = "payments"
urlpatterns = [
    # WeChat Pay posts here; one URL per CA, so the CA's keys verify its messages.
    path("wechat/notify/<slug:ca_code>/", views.wechat_notify, name="wechat_notify"),
    path("<str:number>/", views.pay, name="pay"),
    path("<str:number>/sandbox-cashier/", views.sandbox_cashier, name="sandbox_cashier"),
]
