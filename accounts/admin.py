from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Identity, SmsCode, User


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


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    """Bound by the user's own face check: nobody edits it here, and the full ID number is not
    shown (it is kept only to match the legal representative)."""

    list_display = ["user_phone", "real_name", "id_number_masked", "verified_at", "provider"]
    list_filter = ["provider"]
    list_select_related = ["user"]
    search_fields = ["user__phone", "real_name"]
    ordering = ["-verified_at"]
    fields = [
        "user",
        "real_name",
        "id_number_masked",
        "verified_at",
        "provider",
        "provider_ref",
    ]
    readonly_fields = fields

    @admin.display(description="手机号", ordering="user__phone")
    def user_phone(self, obj: Identity) -> str:
        return obj.user.phone

    @admin.display(description="身份证号")
    def id_number_masked(self, obj: Identity) -> str:
        return obj.id_number_masked

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
