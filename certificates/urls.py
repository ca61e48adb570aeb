from django.urls import path

from . import views

app_name = "certificates"
urlpatterns = [
    path("", views.certificate_list, name="list"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/certificate.<str:fmt>", views.download, name="download"),
    path("<int:pk>/seal/<str:kind>.png", views.seal, name="seal"),
    path("<int:pk>/employees/", views.employees, name="employees"),
    path("<int:pk>/employees/add/", views.employee_add, name="employee_add"),
    path(
        "<int:pk>/employees/<int:employee_id>/remove/",
        views.employee_remove,
        name="employee_remove",
    ),
]
