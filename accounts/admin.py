from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import SmsCode, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["-date_joined"]
    list_display = ["phone", "name", "ca_institution", "is_staff", "is_active", "date_joined"]
    list_filter = ["is_staff", "is_active", "ca_institution", "groups"]
    search_fields = ["phone", "name"]
    list_select_related = ["ca_institution"]
    fieldsets = [
        (None, {"fields": ["phone", "password"]}),
        ("资料", {"fields": ["name", "ca_institution"]}),
        ("权限", {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        ("时间", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["phone", "password1", "password2"]}),
    ]
    filter_horizontal = ["groups"]


@admin.register(SmsCode)
class SmsCodeAdmin(admin.ModelAdmin):
    """Support can see whether a code was sent and used; the code itself is never stored."""

    list_display = ["phone", "purpose", "created_at", "expires_at", "used_at", "failed_attempts"]
    search_fields = ["phone"]
    readonly_fields = list_display

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
