from pathlib import PurePosixPath

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from authorization.models import BankTransfer
from authorization.review import (
    FILE_KINDS,
    REASON_MAX_CHARS,
    ReviewError,
    StaffScopedAdminMixin,
    ca_review,
    review_stage_for,
    support_review,
)
from yueqiqian.templatetags.yq import yuan

from .models import AgreementAcceptance, Order, OrderEvent, Payment, WechatPayMerchant
from .states import OrderStatus

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
STAGES = [("support", "客服审核"), ("ca", "CA审核")]


class ReviewForm(forms.Form):
    """The 审核 block's form: which review, the verdict, and the reason (required to reject —
    the service says so, with the message the reviewer sees)."""

    stage = forms.ChoiceField(choices=STAGES)
    decision = forms.ChoiceField(choices=[("approve", "通过"), ("reject", "不通过")])
    reason = forms.CharField(required=False, max_length=REASON_MAX_CHARS)


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor", "actor_label", "reason"]
    readonly_fields = fields
    ordering = ["created_at", "id"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")

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
class OrderAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    """Status is read-only here: it moves only through the state machine's services. The one
    thing staff do on an order is review a bank-transfer order, in the 审核 block of its page,
    which posts to review_view. CA reviewers see their own CA's orders only."""

    list_display = [
        "number",
        "kind",
        "status",
        "enterprise_name",
        "ca",
        "applicant",
        "amount_yuan",
        "created_at",
    ]
    # RelatedOnly: a CA reviewer's filter lists their own CA, not every CA's name.
    list_filter = ["status", "kind", ("ca", admin.RelatedOnlyFieldListFilter), "created_at"]
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
        "amount_yuan",
        "package_price_yuan",
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
        "renewal_of",
        "target_certificate",
        "created_at",
        "updated_at",
        "history_pdf_link",
    ]
    exclude = ["legal_rep_id_number", "amount_fen", "package_price_per_year_fen"]
    inlines = [AgreementAcceptanceInline, PaymentInline, OrderEventInline]

    @admin.display(description="金额（元）", ordering="amount_fen")
    def amount_yuan(self, obj: Order) -> str:
        return yuan(obj.amount_fen)

    @admin.display(description="套餐单价（元/年）")
    def package_price_yuan(self, obj: Order) -> str:
        return yuan(obj.package_price_per_year_fen)

    @admin.display(description="法定代表人身份证号")
    def legal_rep_id_masked(self, obj: Order) -> str:
        from accounts.identity import mask_id_number

        return mask_id_number(obj.legal_rep_id_number) if obj.legal_rep_id_number else ""

    @admin.display(description="订单历史")
    def history_pdf_link(self, obj: Order) -> str:
        url = reverse("admin:orders_order_history_pdf", args=[obj.pk])
        return format_html('<a href="{}">导出订单历史 PDF</a>', url)

    class Media:
        css = {"all": ["css/admin-review.css"]}

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        # Before the default URLs: their catch-all "<path:object_id>/" would take this one.
        review = path(
            "<path:object_id>/review/",
            self.admin_site.admin_view(self.review_view),
            name="orders_order_review",
        )
        history = path(
            "<path:object_id>/history.pdf",
            self.admin_site.admin_view(self.history_pdf_view),
            name="orders_order_history_pdf",
        )
        return [review, history, *super().get_urls()]

    def history_pdf_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """导出订单历史 PDF: the order's events with their hashes and the chain's verdict. Looked
        up through the scoped queryset, so another CA's order is a 404 as on the order page."""
        from .audit import chain_verify, history_pdf

        order = self.get_object(request, unquote(object_id))
        if order is None or not self.has_view_permission(request, order):
            raise Http404
        response = HttpResponse(
            history_pdf(order=order, report=chain_verify()), content_type="application/pdf"
        )
        response["Content-Disposition"] = f'inline; filename="{order.number}-history.pdf"'
        return response

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and not add:
            context["review"] = self._review_panel(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _review_panel(self, request: HttpRequest, order: Order) -> dict | None:
        """What the 审核 block shows: the transfer, its uploads, the review history, and the
        form when this user may decide now. None when the order has no transfer or the user may
        not see transfers."""
        if not request.user.has_perm("authorization.view_banktransfer"):
            return None
        transfer = (
            BankTransfer.objects.select_related("support_reviewer", "ca_reviewer")
            .filter(order=order)
            .first()
        )
        if transfer is None:
            return None
        files = []
        for kind in FILE_KINDS:
            field = getattr(transfer, kind)
            label = BankTransfer._meta.get_field(kind).verbose_name
            if not field:
                files.append({"label": label, "url": None})
                continue
            url = reverse("admin:authorization_banktransfer_file", args=[transfer.pk, kind])
            is_image = PurePosixPath(field.name).suffix.lower() in IMAGE_SUFFIXES
            files.append({"label": label, "url": url, "is_image": is_image})
        # Each round: submitted (→ 待审核), then each reviewer's decision with its reason.
        history = order.events.filter(
            Q(from_status__in=[OrderStatus.PENDING_REVIEW, OrderStatus.PENDING_CA_REVIEW])
            | Q(to_status=OrderStatus.PENDING_REVIEW)
        ).select_related("actor")
        stage = review_stage_for(request.user, order)
        return {
            "transfer": transfer,
            "remark": order.ca.transfer_remark(
                ref=transfer.reference, credit_code=order.credit_code
            ),
            "files": files,
            "history": history,
            "stage": stage,
            "stage_label": dict(STAGES).get(stage, ""),
            "action": reverse("admin:orders_order_review", args=[order.pk]),
            "reason_max": REASON_MAX_CHARS,
        }

    @method_decorator(require_POST)
    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST from the 审核 block: one decision, then back to the order with a message.

        The order is looked up through the scoped queryset: another CA's order is a 404 here,
        before the service checks the reviewer's CA again.
        """
        order = self.get_object(request, unquote(object_id))
        if order is None or not self.has_view_permission(request, order):
            raise Http404
        back = HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        form = ReviewForm(request.POST)
        if not form.is_valid():
            messages.error(request, "审核提交无效，请选择通过或不通过后重新提交")
            return back
        stage, approve = form.cleaned_data["stage"], form.cleaned_data["decision"] == "approve"
        review = support_review if stage == "support" else ca_review
        try:
            review(
                order=order,
                reviewer=request.user,
                approve=approve,
                reason=form.cleaned_data["reason"],
            )
        except ReviewError as exc:
            messages.error(request, exc.message)
            return back
        if not approve:
            messages.success(
                request, f"{order.number} 审核不通过，申请人将看到原因，可修改后重新提交"
            )
        elif stage == "support":
            messages.success(request, f"{order.number} 客服审核通过，等待CA审核")
        else:
            messages.success(request, f"{order.number} CA审核通过，证书开始签发")
        return back


@admin.register(OrderEvent)
class OrderEventAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    ca_scope_field = "order__ca"
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


@admin.register(Payment)
class PaymentAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
    """Recorded payments, read-only: they are facts reported by WeChat Pay."""

    ca_scope_field = "order__ca"
    list_display = ["out_trade_no", "transaction_id", "amount_fen", "payee_mchid", "paid_at"]
    search_fields = ["out_trade_no", "transaction_id"]
    list_select_related = ["order"]
    fields = [
        "order",
        "provider",
        "out_trade_no",
        "transaction_id",
        "amount_fen",
        "currency",
        "payee_mchid",
        "paid_at",
        "source",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WechatPayMerchant)
class WechatPayMerchantAdmin(StaffScopedAdminMixin, admin.ModelAdmin):
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
