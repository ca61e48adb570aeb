from django.contrib import admin

from .models import Invoice


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ["number", "order", "title", "amount_fen", "issued_at"]
    search_fields = ["number", "order__number", "title", "tax_id"]
    list_select_related = ["order"]
    readonly_fields = ["number", "order", "title", "tax_id", "remark", "amount_fen", "issued_at"]
    exclude = ["pdf"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
