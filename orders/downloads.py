"""Files an applicant may download from their own orders, served through checked views: the
accepted agreement, the 业务授权书, the invoice (downloaded, or sent to an e-mail address), the
certificate and its seals. Nothing here is on a public path; anyone but the order's applicant
gets a 404."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import identity_for
from certificates.models import EnterpriseCertificate
from yueqiqian.ratelimit import RateLimited

from .services import order_sections_missing
from .views import _own_order


def _attachment(content: bytes, *, filename: str, content_type: str, inline: bool = False):
    response = HttpResponse(content, content_type=content_type)
    disposition = "inline" if inline else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def agreement_pdf(request: HttpRequest, number: str) -> HttpResponse:
    from invoices.pdf import render_agreement_pdf

    order = _own_order(request, number)
    acceptance = getattr(order, "agreement_acceptance", None)
    if acceptance is None:
        raise Http404
    agreement = acceptance.agreement
    pdf = render_agreement_pdf(
        ca_name=order.ca.name,
        title=agreement.title,
        version=agreement.version,
        body=agreement.body,
        order_number=order.number,
        enterprise_name=order.enterprise_name,
        accepted_at=acceptance.accepted_at,
        ip_address=acceptance.ip_address or "",
        user_agent=acceptance.user_agent,
    )
    return _attachment(
        pdf,
        filename=f"agreement-{order.number}.pdf",
        content_type="application/pdf",
        inline=request.GET.get("inline") == "1",
    )


@login_required
@require_GET
def letter_pdf(request: HttpRequest, number: str) -> HttpResponse:
    from authorization.letter import authorization_letter, letter_data_for
    from invoices.pdf import render_authorization_letter_pdf

    order = _own_order(request, number)
    identity = identity_for(request.user)
    # The letter names the package, years and legal representative: only a complete
    # application has one.
    if identity is None or order_sections_missing(order):
        raise Http404
    letter = authorization_letter(
        letter_data_for(order, applicant_identity=identity, today=timezone.localdate())
    )
    return _attachment(
        render_authorization_letter_pdf(letter),
        filename=f"authorization-{order.number}.pdf",
        content_type="application/pdf",
        inline=request.GET.get("inline") == "1",
    )


@login_required
@require_GET
def invoice_pdf(request: HttpRequest, number: str) -> FileResponse:
    """【下载发票】 → 下载: the rendered invoice, to the order's applicant only."""
    order = _own_order(request, number)
    invoice = getattr(order, "invoice", None)
    if invoice is None:
        raise Http404
    response = FileResponse(
        invoice.pdf.open("rb"),
        as_attachment=True,
        filename=f"invoice-{invoice.number}.pdf",
        content_type="application/pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def invoice_email(request: HttpRequest, number: str) -> HttpResponse:
    """【下载发票】 → 发送至邮箱: the invoice PDF to the address given, by a worker.

    htmx gets the form back with its message; without JavaScript the order page is shown again
    with the message on top.
    """
    from invoices.forms import InvoiceEmailForm
    from invoices.services import InvoiceError, invoice_email_send

    order = _own_order(request, number)
    form = InvoiceEmailForm(request.POST)
    sent_to = None
    if form.is_valid():
        try:
            sent_to = invoice_email_send(
                order=order, actor=request.user, email=form.cleaned_data["email"]
            )
        except InvoiceError as exc:
            form.add_error("email" if exc.field else None, exc.message)
        except RateLimited as exc:
            form.add_error(None, exc.message)
    if request.htmx:
        # htmx swaps 2xx answers only: the form comes back with its message either way.
        return render(
            request,
            "orders/detail.html#invoice_email",
            {"order": order, "invoice_email_form": form, "sent_to": sent_to},
        )
    if sent_to:
        messages.success(request, f"发票已发送至 {sent_to}，请查收")
    else:
        errors = [e for field_errors in form.errors.values() for e in field_errors]
        messages.error(request, errors[0] if errors else "发送失败，请重试")
    return redirect(f"{reverse('orders:detail', args=[order.number])}#invoice")


def _issued(request: HttpRequest, number: str) -> EnterpriseCertificate:
    order = _own_order(request, number)
    cert = getattr(order, "certificate", None)
    if cert is None or cert.status == EnterpriseCertificate.Status.PENDING:
        raise Http404
    return cert


# The certificate's files live with the certificate (certificates.views, which also serves the
# employees); the order's old addresses forward there after the same ownership check.


@login_required
@require_GET
def certificate_file(request: HttpRequest, number: str, fmt: str) -> HttpResponse:
    cert = _issued(request, number)
    return redirect("certificates:download", cert.pk, fmt)


@login_required
@require_GET
def seal_png(request: HttpRequest, number: str, kind: str) -> HttpResponse:
    cert = _issued(request, number)
    return redirect("certificates:seal", cert.pk, kind)
