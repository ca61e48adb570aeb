"""验证签章, the public page: a PDF signed here is 有效签名 with the enterprise, the CA and the
time; a changed byte or an appended change is 文档已被修改; a PDF with no signature is 未签名; one
signed under a foreign CA is not trusted; garbage gets a clear answer and never a 500; the
certificate's status is the one in our database now. Nothing uploaded is kept."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from certificates import signing
from certificates.authority import build_issuing, build_root
from certificates.issuance import build_enterprise_certificate, new_serial_number
from certificates.models import EnterpriseCertificate
from certificates.seals import draw_official_seal
from certificates.signing import SealPosition
from certificates.signing_services import document_verify
from tests.certificates.test_signing import (
    ENTERPRISE,
    authorized_employee,
    make_pdf,
    media_in,
    sign,
    signing_setup,
)

pytestmark = pytest.mark.django_db
VERIFY_URL = "/sign/verify/"


def post_verify(client, content: bytes, name: str = "已签章.pdf"):
    return client.post(VERIFY_URL, {"document": SimpleUploadedFile(name, content)})


def verdict_of(response) -> str:
    body = response.content.decode()
    start = body.index('id="verdict-title">') + len('id="verdict-title">')
    return body[start : body.index("</h2>", start)]


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    media_in(settings, tmp_path / "private")


@pytest.fixture
def issued():
    return signing_setup()


@pytest.fixture
def certificate(issued):
    return issued[0]


@pytest.fixture
def holder(issued):
    return issued[1]


@pytest.fixture
def employee(certificate):
    return authorized_employee(certificate)


@pytest.fixture
def signed_pdf(certificate, holder) -> bytes:
    return sign(certificate, holder, make_pdf(3), page=2).content


def foreign_signed_pdf() -> bytes:
    """Signed by a look-alike CA someone made themselves, for the same enterprise name."""
    now = dt.datetime.now(dt.UTC)
    root = build_root(organization="南粤数字认证（测试）", now=now)
    issuing = build_issuing(organization="南粤数字认证（测试）", root=root, now=now, crl_url="")
    leaf = build_enterprise_certificate(
        issuing_cert=issuing.certificate,
        issuing_key=issuing.private_key,
        enterprise_name=ENTERPRISE,
        credit_code="91440106MA59A1B2C3",
        province="广东省",
        city="广州市",
        years=1,
        serial_number=new_serial_number(),
        not_before=now,
        crl_url="http://example.invalid/crl",
    )
    return signing.pdf_sign(
        pdf=make_pdf(1),
        credentials=signing.SigningCredentials(
            certificate=leaf.certificate,
            private_key=leaf.private_key,
            chain=(issuing.certificate, root.certificate),
        ),
        seal_png=draw_official_seal(ENTERPRISE),
        page=1,
        position=SealPosition.BOTTOM_RIGHT,
        signer_name=ENTERPRISE,
    )


def test_the_verify_page_is_public_and_names_what_it_checks(client):
    response = client.get(reverse("signing:verify"))

    assert reverse("signing:verify") == VERIFY_URL
    assert response.status_code == 200
    assert "已签章的 PDF 文件" in response.content.decode()
    assert "不会被保存" in response.content.decode()


def test_a_pdf_signed_here_is_a_valid_signature_with_enterprise_ca_and_time(
    client, signed_pdf, certificate
):
    response = post_verify(client, signed_pdf)

    body = response.content.decode()
    assert response.status_code == 200
    assert verdict_of(response) == "有效签名"
    assert ENTERPRISE in body
    assert certificate.credit_code in body
    assert "南粤数字认证（测试）" in body
    signed_at = timezone.localtime(certificate.signings.get().signed_at)
    assert f"{signed_at:%Y-%m-%d %H:%M}" in body
    assert "未修改" in body
    assert "已链接到本平台信任的 CA 根证书" in body
    assert "签发CA" in body
    assert "根证书" in body
    assert certificate.serial_hex.upper() in body


def test_the_verification_names_status_chain_and_log(signed_pdf, certificate):
    result = document_verify(pdf=signed_pdf, ip="198.51.100.1")

    (sig,) = result.signatures
    assert result.verdict == signing.Verdict.VALID
    assert (sig.status, sig.status_label) == ("valid", "有效")
    assert [link.label for link in sig.chain] == ["企业证书", "签发CA", "根证书"]
    assert sig.ca_name == certificate.ca.name
    assert sig.logged_at == certificate.signings.get().signed_at
    assert sig.finding.fingerprint == certificate.sha256_fingerprint


def test_one_byte_changed_in_the_signed_range_is_a_modified_document(client, signed_pdf):
    # The page text, inside the bytes the signature covers.
    position = signed_pdf.index(b"Tender document - page 2")
    altered = signed_pdf[:position] + b"X" + signed_pdf[position + 1 :]

    response = post_verify(client, altered)

    body = response.content.decode()
    assert verdict_of(response) == "文档已被修改"
    assert "签名后文档内容已被改动" in body
    # The signature itself still verifies: whose it is can be told, the content cannot.
    assert ENTERPRISE in body
    assert "已链接到本平台信任的 CA 根证书" in body
    assert 'data-testid="logged"' not in body  # a changed file is in no log


def test_a_change_appended_after_signing_is_a_modified_document(client, signed_pdf):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pdf))
    page_ref, _ = writer.find_page_for_modification(1)
    overlay = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 400 Td (PAID IN FULL) Tj ET")
    )
    page = page_ref.get_object()
    page["/Contents"] = generic.ArrayObject([page["/Contents"], overlay])
    writer.update_container(page)
    buffer = io.BytesIO()
    writer.write(buffer)

    response = post_verify(client, buffer.getvalue())

    body = response.content.decode()
    assert verdict_of(response) == "文档已被修改"
    assert "签名后文档又被追加修改" in body
    # What was signed is the revision our log has; the change came after.
    assert 'data-testid="logged">有' in body


def test_a_second_signature_is_no_modification(client, signed_pdf, certificate, employee):
    cosigned = sign(certificate, employee, signed_pdf, page=3).content

    response = post_verify(client, cosigned)

    assert verdict_of(response) == "有效签名"
    assert response.content.decode().count('data-testid="signature"') == 2


def test_an_unsigned_pdf_is_unsigned(client):
    response = post_verify(client, make_pdf(2))

    assert verdict_of(response) == "未签名"


def test_a_pdf_signed_under_a_foreign_ca_is_not_trusted(client, certificate):
    response = post_verify(client, foreign_signed_pdf())

    body = response.content.decode()
    assert verdict_of(response) == "签名证书不是本平台 CA 签发"
    assert "无法链接到本平台信任的 CA 根证书" in body
    assert "非本平台 CA" in body
    assert "未在本平台登记" in body
    assert "签名证书无法链接到本平台的 CA 根证书" in body


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01garbage that is not a PDF",
        b"%PDF-1.7\n%%EOF",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
    ],
    ids=["bytes", "empty-pdf", "broken-pdf", "png"],
)
def test_garbage_gets_a_clear_answer_and_never_a_500(client, content):
    response = post_verify(client, content)

    assert response.status_code == 200
    assert verdict_of(response) == "无法识别的文件"


def test_a_truncated_signed_pdf_never_breaks_the_page(client, signed_pdf):
    response = post_verify(client, signed_pdf[: len(signed_pdf) // 2])

    assert response.status_code == 200
    assert verdict_of(response) in {"无法识别的文件", "文档已被修改", "未签名"}


def test_the_status_now_follows_a_revocation(client, signed_pdf, certificate):
    revoked_at = timezone.now()
    EnterpriseCertificate.objects.filter(pk=certificate.pk).update(
        status=EnterpriseCertificate.Status.REVOKED, revoked_at=revoked_at
    )

    response = post_verify(client, signed_pdf)

    body = response.content.decode()
    assert verdict_of(response) == "有效签名"  # signed while the certificate was valid
    assert "已注销" in body
    assert "签署时证书有效" in body  # our log shows the signing came first


def test_a_signature_made_before_expiry_stays_valid_and_shows_expired(signed_pdf, certificate):
    with time_machine.travel(certificate.not_after + dt.timedelta(days=30)):
        result = document_verify(pdf=signed_pdf, ip="198.51.100.2")

    (sig,) = result.signatures
    assert result.verdict == signing.Verdict.VALID
    assert sig.status_label == "已过期"


def test_a_verification_keeps_nothing(client, signed_pdf, tmp_path):
    before = {p for p in tmp_path.rglob("*") if p.is_file()}

    post_verify(client, signed_pdf)

    assert {p for p in tmp_path.rglob("*") if p.is_file()} == before


def test_verifications_are_limited_per_ip(client, settings):
    settings.YQ_RATE_LIMITS = {**settings.YQ_RATE_LIMITS, "share_link_open_ip": (2, 3600)}
    unsigned = make_pdf(1)

    statuses = [post_verify(client, unsigned).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert "操作过于频繁" in post_verify(client, unsigned).content.decode()


def test_an_oversized_upload_is_refused_with_the_limit(client, settings):
    settings.YQ_UPLOAD_MAX_BYTES = 2048

    response = post_verify(client, make_pdf(1) + b"%" + b"x" * 4096)

    assert response.status_code == 400
    assert "文件不能超过 2KB" in response.content.decode()


def test_no_file_is_asked_for_again(client):
    response = client.post(VERIFY_URL, {})

    assert response.status_code == 400
    assert "请选择要验证的 PDF 文件" in response.content.decode()
