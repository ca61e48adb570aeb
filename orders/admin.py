from django.contrib import admin

from .models import AgreementAcceptance, Order, OrderEvent, Payment, WechatPayMerchant


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor", "actor_label", "reason"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class AgreementAcceptanceInline(admin.StackedInline):
    model = AgreementAcceptance
    extra = 0
    can_delete = False
    fields = ["agreement", "accepted_at", "ip_address", "user_agent"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class PaymentInline(admin.StackedInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = [
        "out_trade_no",
        "transaction_id",
        "amount_fen",
        "currency",
        "payee_mchid",
        "paid_at",
        "source",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Status is read-only here: it moves only through the state machine's services."""

    list_display = [
        "number",
        "kind",
        "status",
        "enterprise_name",
        "ca",
        "applicant",
        "amount_fen",
        "created_at",
    ]
    list_filter = ["status", "kind", "ca", "created_at"]
    search_fields = [
        "number",
        "enterprise_name",
        "credit_code",
        "applicant__phone",
        "applicant_phone",
    ]
    list_select_related = ["ca", "applicant"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "number",
        "kind",
        "status",
        "applicant",
        "ca",
        "package",
        "years",
        "extra_seats",
        "amount_fen",
        "applicant_phone",
        "applicant_email",
        "enterprise_name",
        "credit_code",
        "legal_rep_name",
        "legal_rep_id_masked",
        "enterprise_address",
        "invoice_title",
        "invoice_tax_id",
        "invoice_email",
        "invoice_remark",
        "authorization_method",
        "payment_requested_at",
        "created_at",
        "updated_at",
    ]
    exclude = ["legal_rep_id_number"]
    inlines = [AgreementAcceptanceInline, PaymentInline, OrderEventInline]

    @admin.display(description="法定代表人身份证号")
    def legal_rep_id_masked(self, obj: Order) -> str:
        from accounts.identity import mask_id_number

        return mask_id_number(obj.legal_rep_id_number) if obj.legal_rep_id_number else ""

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OrderEvent)
class OrderEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "order", "from_status", "to_status", "actor_display", "reason"]
    list_filter = ["to_status", "created_at"]
    search_fields = ["order__number"]
    list_select_related = ["order", "actor"]
    readonly_fields = [
        "order",
        "actor",
        "actor_label",
        "from_status",
        "to_status",
        "reason",
        "created_at",
    ]

    @admin.display(description="操作人")
    def actor_display(self, obj: OrderEvent) -> str:
        return obj.actor_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WechatPayMerchant)
class WechatPayMerchantAdmin(admin.ModelAdmin):
    """Merchant identifiers only: the encrypted secrets are never shown or edited here."""

    list_display = ["ca", "mchid", "appid", "merchant_serial", "platform_serial"]
    fields = [
        "ca",
        "mchid",
        "appid",
        "merchant_serial",
        "platform_serial",
        "platform_public_key_pem",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
