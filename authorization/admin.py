from django.contrib import admin
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from .models import BankTransfer
from .review import FILE_KINDS, StaffScopedAdminMixin, staff_transfer_file


@admin.register(BankTransfer)
class BankTransferAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    """The bank-transfer authorizations and their two reviews, read-only: decisions are made in
    the 审核 block of the order's page. Uploads open through the checked staff file view, never
    through a storage URL."""

    ca_scope_field = "order__ca"
    list_display = [
        "order",
        "company_name",
        "reference",
        "support_decision",
        "ca_decision",
        "voucher_uploaded_at",
    ]
    list_filter = ["support_decision", "ca_decision"]
    search_fields = ["order__number", "company_name", "reference", "order__credit_code"]
    list_select_related = ["order"]
    fields = [
        "order",
        "company_name",
        "bank_account",
        "reference",
        "uploads",
        "voucher_uploaded_at",
        "support_decision",
        "support_reviewer",
        "support_reason",
        "support_reviewed_at",
        "ca_decision",
        "ca_reviewer",
        "ca_reason",
        "ca_reviewed_at",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="上传材料")
    def uploads(self, obj: BankTransfer) -> str:
        links = [
            (
                reverse("admin:authorization_banktransfer_file", args=[obj.pk, kind]),
                BankTransfer._meta.get_field(kind).verbose_name,
            )
            for kind in FILE_KINDS
            if getattr(obj, kind)
        ]
        if not links:
            return "—"
        items = format_html_join(
            "", '<li><a href="{}" target="_blank" rel="noopener">{}</a></li>', links
        )
        return format_html("<ul>{}</ul>", items)

    def get_urls(self):
        file_view = path(
            "<int:pk>/file/<str:kind>/",
            self.admin_site.admin_view(staff_transfer_file),
            name="authorization_banktransfer_file",
        )
        return [file_view, *super().get_urls()]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
