from django.contrib import admin

from authorization.review import StaffScopedAdminMixin

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
        "certificate_pem",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
