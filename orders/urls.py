from django.urls import path

from . import downloads, renewal_views, topup_views, views

app_name = "orders"
urlpatterns = [
    path("", views.order_list, name="list"),
    path("apply/", views.apply_start, name="apply_start"),
    path("topup/<int:certificate_id>/", topup_views.topup_start, name="topup_start"),
    path("renew/<int:certificate_id>/", renewal_views.renew, name="renew"),
    path("<str:number>/", views.detail, name="detail"),
    path("<str:number>/apply/", views.apply, name="apply"),
    path("<str:number>/apply/<str:section>/", views.apply_section, name="apply_section"),
    path("<str:number>/agreement/", views.agreement, name="agreement"),
    path("<str:number>/authorize/", views.authorize, name="authorize"),
    path("<str:number>/cancel/", views.cancel, name="cancel"),
    path("<str:number>/agreement.pdf", downloads.agreement_pdf, name="agreement_pdf"),
    path("<str:number>/authorization-letter.pdf", downloads.letter_pdf, name="letter_pdf"),
    path("<str:number>/invoice.pdf", downloads.invoice_pdf, name="invoice_pdf"),
    path("<str:number>/invoice/email/", downloads.invoice_email, name="invoice_email"),
    path("<str:number>/certificate.<str:fmt>", downloads.certificate_file, name="certificate"),
    path("<str:number>/seal/<str:kind>.png", downloads.seal_png, name="seal"),
]
