"""Authorization background work: e-mailing the 业务授权书 to print and sign."""

import logging
import smtplib

from celery import shared_task

logger = logging.getLogger(__name__)

LETTER_EMAIL_BODY = """您好：

附件是订单 {number}（{enterprise}）的业务授权书。

请打印后由法定代表人签字并加盖企业公章，拍照或扫描后，在粤企签“银行信息”页面的“已签字的业务授权书”处上传。

如非本人操作，请忽略本邮件。

粤企签
"""


# A mail server that is down or slow is retried with backoff; the user was already told the
# letter is on its way, and can download it from the page meanwhile.
@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def letter_email_deliver(*, order_id: int, email: str) -> None:
    """Write the order's 业务授权书 as a PDF, as of today, and mail it to `email`."""
    from django.core.mail import EmailMessage
    from django.utils import timezone

    from accounts.selectors import identity_for
    from invoices.pdf import render_authorization_letter_pdf
    from orders.models import Order

    from .letter import authorization_letter, letter_data_for

    order = Order.objects.select_related("ca", "package", "applicant").get(pk=order_id)
    letter = authorization_letter(
        letter_data_for(
            order,
            applicant_identity=identity_for(order.applicant),
            today=timezone.localdate(),
        )
    )
    message = EmailMessage(
        subject=f"业务授权书 · {order.enterprise_name} · {order.number}",
        body=LETTER_EMAIL_BODY.format(number=order.number, enterprise=order.enterprise_name),
        to=[email],
    )
    message.attach(
        f"业务授权书-{order.number}.pdf",
        render_authorization_letter_pdf(letter),
        "application/pdf",
    )
    message.send()
    logger.info("authorization letter of order %s e-mailed", order.number)
