"""对公银行账号转账验证授权, the applicant's pages: /transfer/<order number>/…"""

from django.urls import path

from . import transfer_views

app_name = "transfer"
urlpatterns = [
    path("<str:number>/", transfer_views.bank_info, name="bank_info"),
    path("<str:number>/letter-email/", transfer_views.letter_email, name="letter_email"),
    path("<str:number>/pay/", transfer_views.pay_info, name="pay_info"),
    path("<str:number>/file/<str:kind>/", transfer_views.transfer_file, name="file"),
]
