from django.urls import path

from . import signing_views

app_name = "signing"
urlpatterns = [
    path("verify/", signing_views.verify, name="verify"),
    path("<int:pk>/", signing_views.sign, name="sign"),
    path("<int:pk>/records/", signing_views.records, name="records"),
]
