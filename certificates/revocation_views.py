"""Revocation pages and the public revocation services.

- `/crl/<ca_code>-<role>.crl`: the CA certificate's newest CRL (DER, application/pkix-crl), at
  the address the certificates' CRL distribution points name.
- `/ocsp/<ca_code>/`: the CA's OCSP responder, RFC 6960 appendix A: POST with an
  application/ocsp-request body, or GET with the base64 request appended to the path.
- `/certificates/<pk>/revoke/`: the administrator's 挂失 / 注销: choose, then confirm with a
  fresh face check.

The CRL and OCSP views are public and take no login, cookies or CSRF token: relying parties'
software calls them.
"""

import base64
import binascii

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from accounts.forms import IdentityForm
from accounts.views import SelfieUploadHandler
from yueqiqian.http import client_ip
from yueqiqian.ratelimit import RateLimited

from . import revocation
from .models import EnterpriseCertificate
from .revocation import (
    HOLDER_REASONS,
    OCSP_MAX_REQUEST_BYTES,
    FaceCheckPhoto,
    RevocationError,
)

# How long HTTP caches may keep a CRL or a (nonce-less) OCSP answer: short, so a revocation is
# seen within minutes, and never past the CRL's nextUpdate.
CRL_MAX_AGE = 600
OCSP_MAX_AGE = 300
OCSP_CONTENT_TYPE = "application/ocsp-response"

Reason = EnterpriseCertificate.RevocationReason
# The words on the page for each choice: the verb, and what it is for.
HOLDER_ACTIONS = {
    Reason.KEY_COMPROMISE: {
        "verb": "挂失",
        "title": "挂失",
        "text": "手机丢失、证书可能被他人使用时选择。挂失后证书立即失效，任何人都不能再用它签署。",
    },
    Reason.CESSATION: {
        "verb": "注销",
        "title": "注销",
        "text": "企业不再使用本证书时选择。注销后证书立即失效。",
    },
}


# ---- CRL ----------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
def crl(request: HttpRequest, ca_code: str, role: str) -> HttpResponse:
    current = revocation.crl_current(ca_code=ca_code, role=role)
    if current is None:
        raise Http404("no such CRL")
    response = HttpResponse(bytes(current.der), content_type="application/pkix-crl")
    left = int((current.next_update - timezone.now()).total_seconds())
    response["Cache-Control"] = f"public, max-age={max(0, min(CRL_MAX_AGE, left))}"
    response["Last-Modified"] = http_date(current.this_update.timestamp())
    response["ETag"] = f'"crl-{current.issuer_id}-{current.number}"'
    response["Content-Disposition"] = f'inline; filename="{ca_code}-{role}.crl"'
    return response


# ---- OCSP ---------------------------------------------------------------------------------------


def _ocsp_response(answer: revocation.OcspAnswer, *, cacheable: bool) -> HttpResponse:
    # OCSP errors travel inside the OCSP response; HTTP says 200 either way (RFC 6960 A.1).
    response = HttpResponse(answer.der, content_type=OCSP_CONTENT_TYPE)
    if cacheable and answer.cacheable:
        response["Cache-Control"] = f"public, max-age={OCSP_MAX_AGE}, no-transform"
    else:
        response["Cache-Control"] = "no-store"
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def ocsp(request: HttpRequest, ca_code: str) -> HttpResponse:
    """POST: the DER request is the body. A GET without a request is malformed."""
    if request.method != "POST":
        return _ocsp_response(revocation.ocsp_malformed(), cacheable=False)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > OCSP_MAX_REQUEST_BYTES:
        return _ocsp_response(revocation.ocsp_malformed(), cacheable=False)
    # Read at most one byte past the limit, whatever the header said.
    body = request.read(OCSP_MAX_REQUEST_BYTES + 1)
    return _ocsp_response(
        revocation.ocsp_respond(ca_code=ca_code, request_der=body), cacheable=False
    )


def _ocsp_get_request(encoded: str) -> bytes:
    """The DER request from a GET path: base64 (RFC 6960 A.1), already URL-decoded by Django.
    Lenient with url-safe base64 and missing padding, which some clients send."""
    if len(encoded) > OCSP_MAX_REQUEST_BYTES * 4 // 3 + 4:
        return b""
    text = encoded.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


@require_GET
def ocsp_get(request: HttpRequest, ca_code: str, encoded: str) -> HttpResponse:
    answer = revocation.ocsp_respond(ca_code=ca_code, request_der=_ocsp_get_request(encoded))
    return _ocsp_response(answer, cacheable=True)


# ---- 挂失 / 注销 by the administrator ------------------------------------------------------------


class RevokeForm(IdentityForm):
    """确认挂失 / 确认注销: the reason, the confirmation, and a selfie for the face check against
    the administrator's own verified identity (so no name or ID number is asked)."""

    real_name = None
    id_number = None
    reason = forms.ChoiceField(
        label="注销原因",
        choices=[(r.value, r.label) for r in HOLDER_REASONS],
        widget=forms.HiddenInput,
        error_messages={"required": "请选择挂失或注销", "invalid_choice": "请选择挂失或注销"},
    )
    confirm = forms.BooleanField(
        label="我已知晓：证书将立即失效，且不可恢复",
        error_messages={"required": "请勾选确认"},
    )
    field_order = ["reason", "confirm", "selfie"]


def _held_certificate(request: HttpRequest, pk: int) -> EnterpriseCertificate:
    """The requesting user's own certificate (as its administrator); anyone else's — an
    employee's too — is a 404, never a 403 that confirms it exists."""
    return get_object_or_404(
        EnterpriseCertificate.objects.select_related("ca", "order"), pk=pk, holder=request.user
    )


def _detail_url(certificate: EnterpriseCertificate) -> str:
    return reverse("certificates:detail", args=[certificate.pk])


@csrf_exempt
@login_required
@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """① choose 挂失 or 注销 (GET) → ② confirm with a face check (GET ?reason=…, then POST)."""
    # CSRF is checked in _revoke, after the selfie upload handler is in place (as on the
    # 实名认证 page: the middleware would read the body first).
    handler = SelfieUploadHandler(request, max_bytes=settings.YQ_SELFIE_MAX_BYTES)
    request.upload_handlers = [handler]
    return _revoke(request, pk, handler)


@csrf_protect
def _revoke(request: HttpRequest, pk: int, handler: SelfieUploadHandler) -> HttpResponse:
    certificate = _held_certificate(request, pk)
    context = {"certificate": certificate, "detail_url": _detail_url(certificate)}
    if certificate.status != EnterpriseCertificate.Status.VALID:
        if certificate.status == EnterpriseCertificate.Status.REVOKED:
            return redirect("revocation:revoke_done", certificate.pk)
        return render(request, "certificates/revoke.html", {**context, "step": 0})
    status = 200
    if request.method == "POST":
        form = RevokeForm(request.POST, request.FILES, selfie_too_large=handler.too_large)
        if form.is_valid():
            try:
                revocation.certificate_revoke(
                    certificate=certificate,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    face_check=FaceCheckPhoto(
                        selfie=form.selfie_bytes,
                        content_type=form.selfie_content_type,
                        ip=client_ip(request),
                    ),
                )
            except RateLimited as exc:
                form.add_error(None, exc.message)
                status = 429
            except RevocationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                status = 400
            else:
                return redirect("revocation:revoke_done", certificate.pk)
        else:
            status = 400
        reason = request.POST.get("reason", "")
    else:
        reason = request.GET.get("reason", "")
        form = RevokeForm(initial={"reason": reason})
    action = HOLDER_ACTIONS.get(reason)
    if action is None:
        # ① Nothing (or nothing we know) chosen yet.
        choices = [{"value": r.value, **HOLDER_ACTIONS[r]} for r in HOLDER_REASONS]
        error = "请选择挂失或注销" if "reason" in request.GET or request.method == "POST" else ""
        return render(
            request,
            "certificates/revoke.html",
            {**context, "step": 1, "choices": choices, "error": error},
            status=400 if error else 200,
        )
    form.autofocus_first_error()
    return render(
        request,
        "certificates/revoke.html",
        {**context, "step": 2, "form": form, "reason": reason, "action": action},
        status=status,
    )


@login_required
@require_GET
def revoke_done(request: HttpRequest, pk: int) -> HttpResponse:
    """③ 已注销: what happened, and 重新办理 — the enterprise may apply again."""
    certificate = _held_certificate(request, pk)
    if certificate.status != EnterpriseCertificate.Status.REVOKED:
        return redirect("revocation:revoke", certificate.pk)
    action = HOLDER_ACTIONS.get(certificate.revocation_reason)
    return render(
        request,
        "certificates/revoke_done.html",
        {
            "certificate": certificate,
            "detail_url": _detail_url(certificate),
            "verb": action["verb"] if action else "注销",
            "step": 3,
        },
    )
