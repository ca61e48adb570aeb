import logging
import smtplib

from celery import shared_task
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from .models import Invoice

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def invoice_render(*, order_id: int) -> None:
    """Render the paid order's invoice PDF and attach it to the order (once)."""
    from orders.models import Order

    from .pdf import invoice_items_for, render_invoice_pdf

    # One query: the order with what the invoice shows, and its invoice if one was made.
    order = Order.objects.select_related("ca", "package", "payment", "invoice").get(pk=order_id)
    if hasattr(order, "invoice"):
        return
    number = f"FP{order.number[2:]}"
    items = invoice_items_for(order)
    paid_at = order.payment.paid_at if hasattr(order, "payment") else order.updated_at
    pdf = render_invoice_pdf(
        invoice_number=number,
        issued_at=paid_at,
        seller_name=order.ca.name,
        buyer_title=order.invoice_title or order.enterprise_name,
        buyer_tax_id=order.invoice_tax_id or order.credit_code,
        items=items,
        total_fen=order.amount_fen,
        remark=order.invoice_remark,
        order_number=order.number,
    )
    try:
        with transaction.atomic():
            invoice = Invoice(
                order=order,
                number=number,
                title=order.invoice_title or order.enterprise_name,
                tax_id=order.invoice_tax_id or order.credit_code,
                remark=order.invoice_remark,
                amount_fen=order.amount_fen,
            )
            invoice.pdf.save(f"{number}.pdf", ContentFile(pdf), save=False)
            invoice.save()
            # The application asked for a 接收邮箱: the invoice goes there once, when it is made.
            if order.invoice_email:
                invoice_email_deliver.delay_on_commit(
                    invoice_id=invoice.pk, email=order.invoice_email
                )
    except IntegrityError:
        return  # rendered by a concurrent run


@shared_task
def invoices_render_missing() -> int:
    """Beat: queue the invoice of every completed, paid order that still has none (a render
    that kept failing, or a broker that was down when the order completed)."""
    from orders.models import Order
    from orders.states import OrderStatus

    missing = Order.objects.filter(
        status=OrderStatus.COMPLETED, payment__isnull=False, invoice__isnull=True
    ).values_list("pk", flat=True)[:200]
    for order_id in missing:
        invoice_render.delay(order_id=order_id)
    return len(missing)


INVOICE_EMAIL_BODY = """您好：

附件是订单 {number}（{enterprise}）的电子发票，发票号码 {invoice_number}，金额 ¥{amount}。

如非本人操作，请忽略本邮件。

粤企签
"""


# A mail server that is down or slow is retried with backoff; the user can download the
# invoice from the order page meanwhile.
@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def invoice_email_deliver(*, invoice_id: int, email: str) -> None:
    """Mail the rendered invoice PDF to `email` (发送至邮箱 under 【下载发票】)."""
    from django.core.mail import EmailMessage

    from yueqiqian.templatetags.yq import yuan

    invoice = Invoice.objects.select_related("order").get(pk=invoice_id)
    order = invoice.order
    with invoice.pdf.open("rb") as file:
        content = file.read()
    message = EmailMessage(
        subject=f"电子发票 · {order.enterprise_name or invoice.title} · {order.number}",
        body=INVOICE_EMAIL_BODY.format(
            number=order.number,
            enterprise=order.enterprise_name or invoice.title,
            invoice_number=invoice.number,
            amount=yuan(invoice.amount_fen),
        ),
        to=[email],
    )
    message.attach(f"发票-{invoice.number}.pdf", content, "application/pdf")
    message.send()
    logger.info("invoice %s of order %s e-mailed", invoice.number, order.number)
