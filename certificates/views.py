"""我的企业证书 【全部】: the list, a certificate's page, its files and seals, and 员工授权.

Who sees a certificate: its holder (管理员), with the administrator's actions, and every active
employee (员工授权 by phone number: whoever logs in with that number), as a user. Anyone else —
a removed employee included — gets a 404, never a 403 that would confirm the certificate exists.
"""

import unicodedata

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods

from accounts.identity import validate_chinese_name
from accounts.validators import phone_validator
from yueqiqian.fragments import cached_fragment

from . import selectors, services
from .models import EmployeeAuthorization, EnterpriseCertificate
from .renewal import renewal_refusal

# certificates_for_user: its old address (it lived here); home and 我的 import from here too.
from .selectors import certificate_rows_for_user, certificates_for_user  # noqa: F401

PAGE_SIZE = 20
FILE_FORMATS = ("pem", "der", "chain.pem")
SEAL_KINDS = ("official", "legal-rep")


# ---- Reads ---------------------------------------------------------------------------------------


def _visible(
    request: HttpRequest, certificate: EnterpriseCertificate | None
) -> EnterpriseCertificate:
    """The certificate if the user holds it or is an active employee on it; else a 404."""
    certificate = selectors.certificate_visible_to(certificate, user=request.user)
    if certificate is None:
        raise Http404
    return certificate


def _held(request: HttpRequest, certificate: EnterpriseCertificate | None) -> EnterpriseCertificate:
    """The certificate if the user is its administrator; an employee gets a 404 too."""
    certificate = selectors.certificate_held_by(certificate, user=request.user)
    if certificate is None:
        raise Http404
    return certificate


def fingerprint_colons(hex_digest: str) -> str:
    """'ab12…' → 'AB:12:…', the way certificate viewers show a fingerprint."""
    digest = hex_digest.upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _in_force(certificate: EnterpriseCertificate) -> bool:
    """Valid and not past its date (the expiry task may not have run yet): employees may be
    added. The service decides again, under its lock."""
    return certificate.status == EnterpriseCertificate.Status.VALID and (
        certificate.not_after is None or certificate.not_after > timezone.now()
    )


# ---- Pages ---------------------------------------------------------------------------------------


@login_required
@require_GET
def certificate_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(certificate_rows_for_user(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    template = (
        "certificates/certificate_list.html#certificate_rows"
        if request.htmx
        else "certificates/certificate_list.html"
    )
    return render(request, template, {"tab": "home", "page": page})


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    certificate = _visible(request, selectors.certificate_page(pk))
    return render(
        request,
        "certificates/detail.html",
        {
            "tab": "home",
            "certificate": certificate,
            "fingerprint": fingerprint_colons(certificate.sha256_fingerprint),
            "is_holder": certificate.is_holder,
            "can_renew": certificate.is_holder
            and renewal_refusal(certificate, actor=request.user) is None,
        },
    )


def _employee_rows(certificate: EnterpriseCertificate) -> SafeString:
    """The list of active employees, rendered again only when it changed.

    The page lists every employee (50 and more), and fifty rows through the template engine
    cost more than the rest of the page. The list changes only when an employee is added or
    removed, which changes seats_used or employee_id_sum (see selectors).
    """
    return cached_fragment(
        "certificates/employees.html#employee_rows",
        stamp=(certificate.pk, certificate.seats_used, certificate.employee_id_sum),
        context=lambda: {
            "certificate": certificate,
            "employees": certificate.employees.filter(removed_at__isnull=True).only(
                "name", "phone", "added_at"
            ),
        },
    )


@login_required
@require_GET
def employees(request: HttpRequest, pk: int) -> HttpResponse:
    certificate = _held(request, selectors.certificate_page(pk))
    return render(
        request,
        "certificates/employees.html",
        {
            "certificate": certificate,
            "employee_count": certificate.seats_used - 1,  # all but the administrator
            "employee_rows": _employee_rows(certificate),
            "in_force": _in_force(certificate),
            "seats_free": max(certificate.seats_total - certificate.seats_used, 0),
        },
    )


class EmployeeForm(forms.Form):
    """【添加用户】: 姓名 and 手机号. The rules that need the database are the service's."""

    name = forms.CharField(
        label="姓名",
        max_length=60,
        error_messages={"required": "请输入姓名", "max_length": "姓名过长，请核对"},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "与员工身份证一致", "spellcheck": "false"}
        ),
    )
    phone = forms.CharField(
        label="手机号",
        max_length=20,  # room for the spaces people type between groups of digits
        error_messages={"required": "请输入手机号", "max_length": "请输入正确的11位手机号"},
        widget=forms.TelInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "off",
                "placeholder": "员工登录粤企签用的手机号",
            }
        ),
    )

    def clean_name(self) -> str:
        return validate_chinese_name(self.cleaned_data["name"])

    def clean_phone(self) -> str:
        # Full-width digits from a Chinese IME become ASCII; spaces and dashes go.
        phone = unicodedata.normalize("NFKC", self.cleaned_data["phone"])
        phone = "".join(ch for ch in phone if ch.isdigit())
        phone_validator(phone)
        return phone


@login_required
@require_http_methods(["GET", "POST"])
def employee_add(request: HttpRequest, pk: int) -> HttpResponse:
    certificate = _held(request, selectors.certificate_page(pk))
    form = EmployeeForm(request.POST or None)
    seats_full = False
    if request.method == "POST" and form.is_valid():
        try:
            employee = services.employee_add(
                certificate=certificate,
                actor=request.user,
                name=form.cleaned_data["name"],
                phone=form.cleaned_data["phone"],
            )
        except services.EmployeeError as exc:
            seats_full = exc.message == services.SEATS_FULL_MESSAGE
            if not seats_full:
                form.add_error(exc.field, exc.message)
        else:
            messages.success(request, f"已添加用户 {employee.name}")
            return redirect("certificates:employees", pk=certificate.pk)
    elif request.method == "GET":
        seats_full = certificate.seats_used >= certificate.seats_total
    return render(
        request,
        "certificates/employee_add.html",
        {
            "certificate": certificate,
            "form": form,
            "seats_full": seats_full,
            "in_force": _in_force(certificate),
            "seats_free": max(certificate.seats_total - certificate.seats_used, 0),
            "seats_full_message": services.SEATS_FULL_MESSAGE,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def employee_remove(request: HttpRequest, pk: int, employee_id: int) -> HttpResponse:
    """GET asks to confirm; POST removes. The employee's access ends with the POST."""
    certificate = _held(request, selectors.certificate_page(pk))
    employee = get_object_or_404(EmployeeAuthorization, pk=employee_id, certificate=certificate)
    if request.method == "POST":
        try:
            services.employee_remove(employee=employee, actor=request.user)
        except services.EmployeeError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"已移除用户 {employee.name}，授权数量已释放")
        return redirect("certificates:employees", pk=certificate.pk)
    if employee.removed_at is not None:
        messages.info(request, f"{employee.name} 已移除")
        return redirect("certificates:employees", pk=certificate.pk)
    return render(
        request,
        "certificates/employee_remove.html",
        {"certificate": certificate, "employee": employee},
    )


# ---- Files ---------------------------------------------------------------------------------------


def _attachment(content: bytes, *, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def download(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The certificate (PEM or DER) or its chain: public data, for the holder and employees."""
    if fmt not in FILE_FORMATS:
        raise Http404
    certificate = _visible(
        request,
        selectors.certificate_issued(
            pk, EnterpriseCertificate.objects.select_related("ca").defer("encrypted_private_key")
        ),
    )
    if not certificate.certificate_pem:
        raise Http404
    name = f"{certificate.credit_code}-{certificate.serial_hex[:8]}"
    if fmt == "pem":
        return _attachment(
            certificate.certificate_pem.encode(),
            filename=f"{name}.pem",
            content_type="application/x-pem-file",
        )
    if fmt == "der":
        der = x509.load_pem_x509_certificate(certificate.certificate_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
        return _attachment(der, filename=f"{name}.cer", content_type="application/pkix-cert")
    # Leaf, then the issuing CA, then the root: the order TLS and most verifiers expect.
    chain = certificate.certificate_pem + services.ca_chain_pem(ca=certificate.ca)
    return _attachment(
        chain.encode(), filename=f"{name}-chain.pem", content_type="application/x-pem-file"
    )


@login_required
@require_GET
def seal(request: HttpRequest, pk: int, kind: str) -> FileResponse:
    if kind not in SEAL_KINDS:
        raise Http404
    certificate = _visible(
        request,
        selectors.certificate_issued(
            pk, EnterpriseCertificate.objects.only("holder_id", "official_seal", "legal_rep_seal")
        ),
    )
    field = certificate.official_seal if kind == "official" else certificate.legal_rep_seal
    if not field:
        raise Http404
    response = FileResponse(field.open("rb"), content_type="image/png")
    # Access can be withdrawn at any moment (an employee removed): the browser asks every time.
    response["Cache-Control"] = "private, no-cache"
    return response
