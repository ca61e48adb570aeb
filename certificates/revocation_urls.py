"""Public revocation services (CRL, OCSP) and the administrator's 挂失 / 注销 pages.

Included at the site root: the CRL address is the one the certificates' CRL distribution points
already name (certificates.services.ca_crl_url), and the pages sit beside the certificate pages
under /certificates/<pk>/.
"""

from django.urls import path, re_path

from . import revocation_views as views

app_name = "revocation"
# CA codes are ASCII slugs and may hold hyphens: the role is matched from the end.
CA_CODE = r"(?P<ca_code>[-a-zA-Z0-9_]+)"
urlpatterns = [
    re_path(rf"^crl/{CA_CODE}-(?P<role>root|issuing)\.crl$", views.crl, name="crl"),
    # POST; the trailing slash is optional, as OCSP clients are not redirected.
    re_path(rf"^ocsp/{CA_CODE}/?$", views.ocsp, name="ocsp"),
    re_path(rf"^ocsp/{CA_CODE}/(?P<encoded>.+)$", views.ocsp_get, name="ocsp_get"),
    path("certificates/<int:pk>/revoke/", views.revoke, name="revoke"),
    path("certificates/<int:pk>/revoke/done/", views.revoke_done, name="revoke_done"),
]
