"""挂失 on a phone (390×844): the certificate's administrator chooses 挂失, confirms with a fresh
face check, sees the certificate 已注销 — and the CA's OCSP responder says revoked for its
serial, at the address relying parties use."""

import io

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from PIL import Image
from playwright.sync_api import expect

from certificates.models import CACertificate, EnterpriseCertificate
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot
from tests.certificates.test_revocation import ca_with_hierarchy, issued_certificate
from tests.factories import UserFactory, make_id_number, verified

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = "13912345601"


@pytest.fixture
def certificate(settings, live_server):
    settings.YQ_PUBLIC_BASE_URL = live_server.url
    settings.YQ_FACE_PROVIDER = "accounts.faceauth.SandboxFaceCheckProvider"
    settings.YQ_FACE_SANDBOX_FAIL_IDS = []
    _, package = ca_with_hierarchy(code="nanyue", name="南粤数字认证（演示）")
    holder = UserFactory(phone=PHONE)
    verified(holder, real_name="李四", id_number=make_id_number(sequence="001"))
    return issued_certificate(package=package, applicant=holder)


def selfie_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (480, 640), (236, 200, 180)).save(buffer, "JPEG")
    return buffer.getvalue()


def log_in(page, live_server, sms_outbox):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送")).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(PHONE))
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")


def ocsp_status(page, live_server, certificate: EnterpriseCertificate) -> ocsp.OCSPResponse:
    """Ask the CA's responder about the certificate, as a relying party would (POST)."""
    issuing = x509.load_pem_x509_certificate(
        CACertificate.objects.get(ca=certificate.ca, role="issuing").certificate_pem.encode()
    )
    leaf = x509.load_pem_x509_certificate(certificate.certificate_pem.encode())
    body = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, issuing, hashes.SHA256())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    response = page.request.post(
        f"{live_server.url}/ocsp/{certificate.ca.code}/",
        data=body,
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert response.status == 200
    assert response.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(response.body())


def test_the_administrator_reports_the_certificate_lost_with_a_face_check(
    live_server, page, sms_outbox, certificate
):
    assert (
        ocsp_status(page, live_server, certificate).certificate_status == ocsp.OCSPCertStatus.GOOD
    )
    log_in(page, live_server, sms_outbox)

    # ① 选择操作
    page.goto(f"{live_server.url}/certificates/{certificate.pk}/revoke/")
    expect(page.get_by_test_id("certificate-status")).to_have_text("有效")
    expect(page.get_by_text("广州市示例科技有限公司")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "revoke-01-choose")
    page.get_by_label("挂失").check()
    page.get_by_role("button", name="下一步").click()

    # ② 人脸识别确认: the button waits for the confirmation.
    expect(page.get_by_test_id("revoke-action")).to_have_text("挂失")
    submit = page.get_by_role("button", name="确认挂失")
    expect(submit).to_be_disabled()
    page.get_by_label("我已知晓：证书将立即失效，且不可恢复").check()
    expect(submit).to_be_enabled()
    selfie = page.get_by_label("拍摄人脸照片")
    expect(selfie).to_have_attribute("capture", "user")
    selfie.set_input_files(
        files=[{"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": selfie_jpeg()}]
    )
    expect(page.get_by_text("已拍摄，点击上方可重拍")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "revoke-02-confirm")
    submit.click()

    # ③ 完成
    expect(page.get_by_role("heading", name="证书已挂失，立即失效")).to_be_visible()
    expect(page.get_by_test_id("certificate-status")).to_have_text("已注销")
    expect(page.get_by_role("link", name="办理", exact=True)).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "revoke-03-done")

    # The certificate's own page says so too.
    page.goto(f"{live_server.url}/certificates/{certificate.pk}/")
    expect(page.get_by_test_id("certificate-status")).to_have_text("已注销")
    screenshot(page, "revoke-04-certificate")

    certificate.refresh_from_db()
    assert certificate.status == EnterpriseCertificate.Status.REVOKED
    answer = ocsp_status(page, live_server, certificate)
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == x509.ReasonFlags.key_compromise
