from django.contrib import admin

from authorization.review import StaffScopedAdminMixin

from .models import Invoice


@admin.register(Invoice)
class InvoiceAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    """Rendered by a worker, read-only; a CA reviewer sees their own CA's invoices only."""

    ca_scope_field = "order__ca"
    list_display = ["number", "order", "title", "amount_fen", "issued_at"]
    search_fields = ["number", "order__number", "title", "tax_id"]
    list_select_related = ["order"]
    readonly_fields = ["number", "order", "title", "tax_id", "remark", "amount_fen", "issued_at"]
    exclude = ["pdf"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
