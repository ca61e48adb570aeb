from celery import shared_task
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from .models import Invoice


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

    if Invoice.objects.filter(order_id=order_id).exists():
        return
    order = Order.objects.select_related("ca", "package", "payment").get(pk=order_id)
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
