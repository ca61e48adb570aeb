from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from authorization.review import StaffScopedAdminMixin

from . import revocation
from .models import AgreementVersion, CACertificate, CAInstitution, EnterpriseCertificate, Package


class PackageInline(admin.TabularInline):
    model = Package
    extra = 0
    fields = ["name", "price_per_year_fen", "min_years", "max_years", "is_active", "sort_order"]


@admin.register(CAInstitution)
class CAInstitutionAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "contact_phone", "bank_name", "is_active", "sort_order"]
    search_fields = ["name", "code"]
    inlines = [PackageInline]


@admin.register(CACertificate)
class CACertificateAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    """CA certificates are generated, never edited; their private keys are never shown."""

    list_display = ["ca", "role", "subject", "serial_hex", "not_after"]
    list_filter = [("ca", admin.RelatedOnlyFieldListFilter), "role"]
    fields = [
        "ca",
        "role",
        "subject",
        "serial_hex",
        "sha256_fingerprint",
        "not_before",
        "not_after",
        "certificate_pem",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Package)
class PackageAdmin(admin.ModelAdmin):
    list_display = ["name", "ca", "price_per_year_fen", "min_years", "max_years", "is_active"]
    list_filter = ["ca", "is_active"]
    list_select_related = ["ca"]


@admin.register(AgreementVersion)
class AgreementVersionAdmin(admin.ModelAdmin):
    """A published version is what applicants accepted: it can be superseded, not edited."""

    list_display = ["ca", "version", "title", "published_at"]
    list_filter = ["ca"]
    list_select_related = ["ca"]

    def get_readonly_fields(self, request, obj=None):
        return ["ca", "version", "title", "body", "published_at"] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EnterpriseCertificate)
class EnterpriseCertificateAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    """Issued by the worker, never edited by hand; the private key is never shown. A CA
    reviewer sees their own CA's certificates only."""

    list_display = ["enterprise_name", "credit_code", "ca", "status", "not_after"]
    list_filter = ["status", ("ca", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["enterprise_name", "credit_code", "serial_hex", "order__number"]
    list_select_related = ["ca"]
    fields = [
        "order",
        "ca",
        "holder",
        "status",
        "enterprise_name",
        "credit_code",
        "legal_rep_name",
        "serial_hex",
        "sha256_fingerprint",
        "not_before",
        "not_after",
        "issued_at",
        "revoked_at",
        "revocation_reason",
        "revoked_by",
        "certificate_pem",
    ]
    readonly_fields = fields
    # The 注销证书 button above the read-only certificate (templates/certificates/).
    change_form_template = "certificates/revoke_admin_change_form.html"

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        # Before the default URLs: their catch-all "<path:object_id>/" would take this one.
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name="certificates_enterprisecertificate_revoke",
        )
        return [revoke, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self._may_revoke(request, obj):
            context["revoke_url"] = reverse(
                "admin:certificates_enterprisecertificate_revoke", args=[obj.pk]
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    @staticmethod
    def _may_revoke(request: HttpRequest, certificate: EnterpriseCertificate) -> bool:
        return (
            certificate.status == EnterpriseCertificate.Status.VALID
            and certificate.holder_id != request.user.pk
            and revocation.staff_may_revoke(request.user, certificate)
        )

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """注销证书 by staff: a reason, a confirmation, then back to the certificate.

        The certificate is looked up through the scoped queryset (another CA's is a 404 for a
        CA reviewer); the service checks the role and CA again.
        """
        certificate = self.get_object(request, unquote(object_id))
        if certificate is None or not self.has_view_permission(request, certificate):
            raise Http404
        back = reverse("admin:certificates_enterprisecertificate_change", args=[certificate.pk])
        if request.method == "POST":
            form = StaffRevokeForm(request.POST)
            if form.is_valid():
                try:
                    revocation.certificate_revoke(
                        certificate=certificate,
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                        face_check=None,
                    )
                except revocation.RevocationError as exc:
                    messages.error(request, exc.message)
                    return HttpResponseRedirect(back)
                label = EnterpriseCertificate.RevocationReason(form.cleaned_data["reason"]).label
                self.log_change(request, certificate, f"注销证书：{label}")
                messages.success(request, f"证书 {certificate.serial_hex} 已注销（{label}）")
                return HttpResponseRedirect(back)
        else:
            form = StaffRevokeForm()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "注销证书",
            "certificate": certificate,
            "form": form,
            "back_url": back,
            "may_revoke": self._may_revoke(request, certificate),
        }
        return TemplateResponse(request, "certificates/revoke_admin.html", context)


class StaffRevokeForm(forms.Form):
    reason = forms.ChoiceField(
        label="注销原因",
        choices=[(r.value, r.label) for r in revocation.STAFF_REASONS],
        widget=forms.RadioSelect,
        error_messages={"required": "请选择注销原因"},
    )
    confirm = forms.BooleanField(
        label="我已核实：证书将立即失效，且不可恢复",
        error_messages={"required": "请勾选确认"},
    )
