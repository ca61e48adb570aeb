from django.urls import path

from . import views

app_name = "authorization"
urlpatterns = [
    # The applicant's side (logged in). "orders" is never a token: tokens are 43 characters.
    path("orders/<str:number>/share/", views.share_create, name="share_create"),
    # The legal representative's side: no login, the token is the credential.
    path("<str:token>/", views.share_open, name="share_open"),
    path("<str:token>/check/", views.share_check, name="share_check"),
    path("<str:token>/done/", views.share_done, name="share_done"),
]
