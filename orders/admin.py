from django.contrib import admin

from .models import Order, OrderEvent


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor", "actor_label", "reason"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Status is read-only here: it moves only through the state machine's services."""

    list_display = ["number", "kind", "status", "ca", "applicant", "amount_fen", "created_at"]
    list_filter = ["status", "kind", "ca", "created_at"]
    search_fields = ["number", "applicant__phone"]
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
        "created_at",
        "updated_at",
    ]
    inlines = [OrderEventInline]

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
