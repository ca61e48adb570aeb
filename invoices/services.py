"""Everything that writes for invoices outside the renderer: sending one by e-mail."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from accounts.models import User
from orders.models import Order
from yueqiqian import ratelimit

from .models import Invoice

EMAIL_SCOPE = "invoice_email_user"


class InvoiceError(Exception):
    """The invoice cannot be sent; `message` is shown on the page, `field` says where."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def invoice_email_default(order: Order) -> str:
    """The address 发送至邮箱 offers first: the invoice's, else the applicant's."""
    return order.invoice_email or order.applicant_email


def invoice_email_send(*, order: Order, actor: User, email: str) -> str:
    """发送至邮箱: queue the order's invoice PDF for `email`; returns the address used.

    Only the order's applicant, only once the invoice is rendered. Rate limited per user
    (invoice_email_user): every send is an e-mail from our domain to an address the user chose.
    Raises InvoiceError (bad address, no invoice yet), RateLimited past the limit.
    """
    from .tasks import invoice_email_deliver

    if order.applicant_id != actor.pk:
        raise InvoiceError("只有申请人本人可以发送发票")
    email = (email or "").strip()
    if not email:
        raise InvoiceError("请输入邮箱地址", field="email")
    try:
        validate_email(email)
    except ValidationError:
        raise InvoiceError("请输入有效的邮箱地址", field="email") from None
    invoice = Invoice.objects.filter(order=order).only("pk").first()
    if invoice is None:
        raise InvoiceError("发票生成中，请稍后再试")
    ratelimit.hit(EMAIL_SCOPE, f"user:{actor.pk}")
    invoice_email_deliver.delay_on_commit(invoice_id=invoice.pk, email=email)
    return email
