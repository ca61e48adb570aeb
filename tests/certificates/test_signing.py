"""电子签章: the holder or an authorized employee signs a PDF with the enterprise certificate after
a fresh face check; the signature is PAdES, validates in pyHanko (library and CLI) against the
CA's root, carries the official seal on the chosen page and corner, and is logged by hash; the
refusals (no identity, a failed face check, a stranger, a removed employee, a revoked or expired
certificate, not a PDF, a page out of range) sign and log nothing.

Helpers and fixtures here are shared with test_verify.py and the browser test.
"""

import datetime as dt
import hashlib
import io
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageDraw
from pypdf import PdfReader

from accounts.faceauth import MISMATCH_MESSAGE
from certificates import signing
from certificates.models import (
    CACertificate,
    EmployeeAuthorization,
    EnterpriseCertificate,
    SigningRecord,
)
from certificates.services import ca_hierarchy_create, certificate_issue_for_order
from certificates.signing import SealPosition
from certificates.signing_services import (
    EXPIRED_MESSAGE,
    IDENTITY_REQUIRED_MESSAGE,
    REVOKED_MESSAGE,
    SigningRefused,
    document_name_clean,
    document_sign,
    signed_download_name,
)
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import (
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_id_number,
    verified,
)

pytestmark = pytest.mark.django_db
PYHANKO = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pyhanko"
ENTERPRISE = "广州市示例科技有限公司"
A4 = (595.2756, 841.8898)


# ---- Helpers (shared) --------------------------------------------------------------------------


def make_pdf(pages: int = 3, *, rotate: int = 0, text: str = "Tender document") -> bytes:
    """A plain multi-page PDF as a word processor would export it."""
    from reportlab.lib.pagesizes import A4 as RL_A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=RL_A4, pageCompression=0)
    pdf.setTitle("招标文件")
    for number in range(1, pages + 1):
        if rotate:
            pdf.setPageRotation(rotate)
        pdf.drawString(72, 760, f"{text} - page {number}")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def selfie_jpeg() -> bytes:
    image = Image.new("RGB", (480, 640), (236, 240, 246))
    ImageDraw.Draw(image).ellipse((140, 150, 340, 400), fill=(232, 196, 168))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def issue_certificate(*, holder, package, enterprise_name: str = ENTERPRISE):
    """A certificate issued the way the worker issues it: real keys, chain and seals."""
    order = filled_application(applicant=holder, package=package, enterprise_name=enterprise_name)
    for step in (
        OrderStatus.AWAITING_AUTHORIZATION,
        OrderStatus.AUTHORIZED,
        OrderStatus.ISSUING,
    ):
        order = order_transition(order=order, to=step, actor_label="测试")
    return certificate_issue_for_order(order_id=order.pk)


def sign(certificate, user, pdf: bytes, *, page: int = 1, position=SealPosition.BOTTOM_RIGHT):
    return document_sign(
        certificate=certificate,
        signer=user,
        document=pdf,
        document_name="招标文件.pdf",
        page=page,
        position=position,
        selfie=selfie_jpeg(),
        selfie_content_type="image/jpeg",
        ip="203.0.113.9",
    )


def chain_of(certificate) -> tuple[x509.Certificate, x509.Certificate]:
    """(root, issuing) of the certificate's CA."""
    by_role = {c.role: c for c in CACertificate.objects.filter(ca=certificate.ca)}
    return tuple(
        x509.load_pem_x509_certificate(by_role[role].certificate_pem.encode())
        for role in (CACertificate.Role.ROOT, CACertificate.Role.ISSUING)
    )


def pyhanko_status(signed: bytes, root: x509.Certificate, issuing: x509.Certificate):
    """pyHanko's own judgment, independent of certificates.signing."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    def asn1(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    context = ValidationContext(
        trust_roots=[asn1(root)],
        other_certs=[asn1(issuing)],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    (embedded,) = PdfFileReader(io.BytesIO(signed)).embedded_signatures
    return validate_pdf_signature(embedded, context)


def seal_annotations(signed: bytes) -> dict[int, list[tuple[float, ...]]]:
    """Page number → the /Rect of each signature widget on it."""
    found = {}
    for number, page in enumerate(PdfReader(io.BytesIO(signed)).pages, start=1):
        for annotation in page.get("/Annots") or []:
            annotation = annotation.get_object()
            if annotation.get("/Subtype") == "/Widget" and annotation.get("/FT") == "/Sig":
                found.setdefault(number, []).append(tuple(float(v) for v in annotation["/Rect"]))
    return found


def media_in(settings, root: Path) -> Path:
    """Store seals (and anything else) under `root`, this test's own folder."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": root, "base_url": None},
        },
    }
    settings.PRIVATE_MEDIA_ROOT = root
    return root


def signing_setup():
    """A CA with its hierarchy, and a verified holder (张三) of a certificate it issued."""
    ca = CAInstitutionFactory(name="南粤数字认证（测试）")
    ca_hierarchy_create(ca=ca)
    holder = UserFactory(phone="13800001111")
    verified(holder, real_name="张三", id_number=make_id_number(sequence="011"))
    certificate = issue_certificate(holder=holder, package=PackageFactory(ca=ca))
    return certificate, holder


def authorized_employee(certificate, *, phone: str = "13900002222"):
    """A verified employee (李四) with an active authorization on the certificate."""
    user = UserFactory(phone=phone)
    verified(user, real_name="李四", id_number=make_id_number(sequence="022"))
    EmployeeAuthorization.objects.create(
        certificate=certificate, name="李四", phone=user.phone, added_by=certificate.holder
    )
    return user


# ---- Fixtures ------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path) -> Path:
    return media_in(settings, tmp_path / "private")


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


# ---- Signing ------------------------------------------------------------------------------------


def test_the_holder_signs_and_the_pdf_validates_against_the_ca_root(certificate, holder):
    pdf = make_pdf(3)

    signed = sign(certificate, holder, pdf, page=2)

    root, issuing = chain_of(certificate)
    status = pyhanko_status(signed.content, root, issuing)
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.bottom_line
    assert status.md_algorithm == "sha256"
    assert status.signing_cert.subject.native["organization_name"] == ENTERPRISE
    assert status.modification_level.name == "NONE"
    assert signed.content.startswith(pdf)  # an incremental update: the original is untouched
    record = SigningRecord.objects.get()
    assert record == signed.record
    assert (record.certificate, record.signer, record.page) == (certificate, holder, 2)
    assert record.document_name == "招标文件.pdf"
    assert record.document_sha256 == hashlib.sha256(pdf).hexdigest()
    assert record.signed_sha256 == hashlib.sha256(signed.content).hexdigest()
    assert signed.download_name == "招标文件-已签章.pdf"


def test_the_signature_is_pades_with_the_reason_and_the_enterprise(certificate, holder):
    signed = sign(certificate, holder, make_pdf(1))

    reader = PdfReader(io.BytesIO(signed.content))
    (field,) = [f for f in reader.get_fields().values() if f.get("/FT") == "/Sig"]
    value = field["/V"].get_object()
    assert value["/SubFilter"] == "/ETSI.CAdES.detached"
    assert value["/Reason"] == "粤企签电子签章"
    assert value["/Name"] == ENTERPRISE


def test_the_pyhanko_cli_validates_the_signed_pdf_against_the_root(certificate, holder, tmp_path):
    signed = sign(certificate, holder, make_pdf(3), page=3)
    root, issuing = chain_of(certificate)
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "issuing.pem").write_bytes(issuing.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "signed.pdf").write_bytes(signed.content)
    # Our roots only (--trust-replace), and no revocation fetching: the CRL URL is this
    # platform's, and a test never reaches the network.
    command = [
        str(PYHANKO),
        "sign",
        "validate",
        "--no-revocation-check",
        "--trust-replace",
        "--trust",
        str(tmp_path / "root.pem"),
        "--other-certs",
        str(tmp_path / "issuing.pem"),
    ]

    summary = subprocess.run(
        [*command, str(tmp_path / "signed.pdf")], capture_output=True, text=True, check=False
    )
    pretty = subprocess.run(
        [*command, "--pretty-print", str(tmp_path / "signed.pdf")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert summary.returncode == 0, summary.stdout + summary.stderr
    assert ":INTACT:TRUSTED,UNTOUCHED" in summary.stdout
    assert pretty.returncode == 0, pretty.stdout + pretty.stderr
    assert "The signer's certificate is trusted." in pretty.stdout
    assert "The signature is judged VALID." in pretty.stdout


def test_the_cli_refuses_the_same_pdf_against_another_root(certificate, holder, tmp_path):
    signed = sign(certificate, holder, make_pdf(1))
    other = CAInstitutionFactory(name="其他认证机构")
    other_root, _ = ca_hierarchy_create(ca=other)
    (tmp_path / "other-root.pem").write_text(other_root.certificate_pem)
    (tmp_path / "signed.pdf").write_bytes(signed.content)

    result = subprocess.run(
        [
            str(PYHANKO),
            "sign",
            "validate",
            "--no-revocation-check",
            "--trust-replace",
            "--trust",
            str(tmp_path / "other-root.pem"),
            str(tmp_path / "signed.pdf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert "UNTRUSTED" in result.stdout


def test_an_authorized_employee_signs_and_the_record_names_them(certificate, employee):
    signed = sign(certificate, employee, make_pdf(2), page=1)

    root, issuing = chain_of(certificate)
    assert pyhanko_status(signed.content, root, issuing).bottom_line
    assert SigningRecord.objects.get().signer == employee


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        # A4 is 595 × 842 pt; the seal is 113 pt square, 36 pt from the edges.
        (SealPosition.BOTTOM_RIGHT, (446, 36, 559, 149)),
        (SealPosition.BOTTOM_LEFT, (36, 36, 149, 149)),
        (SealPosition.TOP_RIGHT, (446, 693, 559, 806)),
        (SealPosition.CENTER, (241, 364, 354, 477)),
    ],
)
def test_the_seal_is_on_the_chosen_page_in_the_chosen_place(
    certificate, holder, position, expected
):
    signed = sign(certificate, holder, make_pdf(3), page=2, position=position)

    widgets = seal_annotations(signed.content)
    assert list(widgets) == [2]
    (rect,) = widgets[2]
    assert rect == pytest.approx(expected, abs=1)
    width, height = A4
    x0, y0, x1, y1 = rect
    assert x1 - x0 == y1 - y0 == pytest.approx(113, abs=1)
    assert 0 <= x0 < x1 <= width
    assert 0 <= y0 < y1 <= height


def test_on_a_turned_page_the_seal_sits_where_the_reader_sees_bottom_right(certificate, holder):
    # reportlab stores the turned page as landscape (842 × 595) with /Rotate 90: a viewer
    # turns it clockwise and shows it upright as A4. What it shows at the bottom right is the
    # stored page's right-hand side, upper half.
    signed = sign(certificate, holder, make_pdf(1, rotate=90), position=SealPosition.BOTTOM_RIGHT)

    page = PdfReader(io.BytesIO(signed.content)).pages[0]
    assert (page.get("/Rotate"), tuple(page.mediabox)) == (90, (0, 0, A4[1], A4[0]))
    (rect,) = seal_annotations(signed.content)[1]
    assert rect == pytest.approx((693, 446, 806, 559), abs=1)


def test_seal_rect_follows_every_turn_and_the_crop_box():
    geometry = signing.PageGeometry(box=(100, 50, 700, 450), rotation=0)  # 600 × 400 shown
    assert signing.seal_rect(geometry, SealPosition.BOTTOM_LEFT) == (136, 86, 249, 199)

    turned = {
        rotation: signing.seal_rect(
            signing.PageGeometry(box=(0, 0, 600, 800), rotation=rotation),
            SealPosition.BOTTOM_RIGHT,
        )
        for rotation in (0, 90, 180, 270)
    }
    assert turned == {
        0: (451, 36, 564, 149),  # bottom right as stored
        90: (451, 651, 564, 764),  # shown turned clockwise: the stored top right
        180: (36, 651, 149, 764),  # upside down: the stored top left
        270: (36, 36, 149, 149),  # turned anticlockwise: the stored bottom left
    }


def test_a_tiny_page_gets_a_smaller_seal_inside_it():
    rect = signing.seal_rect(
        signing.PageGeometry(box=(0, 0, 150, 100), rotation=0), SealPosition.CENTER
    )
    x0, y0, x1, y1 = rect
    assert 0 <= x0 < x1 <= 150
    assert 0 <= y0 < y1 <= 100
    assert x1 - x0 == y1 - y0 < 100


def test_a_second_signature_keeps_the_first_valid(certificate, holder, employee):
    first = sign(certificate, holder, make_pdf(2), page=1)

    second = sign(certificate, employee, first.content, page=2, position=SealPosition.BOTTOM_LEFT)

    assert second.content.startswith(first.content)
    root, issuing = chain_of(certificate)
    result = signing.pdf_verify(second.content, roots=[root], intermediates=[issuing])
    assert [s.verdict for s in result.signatures] == [signing.Verdict.VALID] * 2
    assert seal_annotations(second.content).keys() == {1, 2}


def test_the_logged_name_is_the_files_own_name_only():
    assert document_name_clean("C:\\招标\\..\\投标\x00文件.pdf") == "投标文件.pdf"
    assert document_name_clean("../../etc/passwd") == "passwd"
    assert document_name_clean("") == "文件.pdf"
    long = document_name_clean("很" * 300 + ".pdf")
    assert len(long) == 200
    assert long.endswith("很.pdf")


def test_the_download_name_keeps_the_chinese_stem():
    assert signed_download_name("投标文件（商务部分）.PDF") == "投标文件（商务部分）-已签章.pdf"
    assert signed_download_name("scan") == "scan-已签章.pdf"


# ---- Refusals -----------------------------------------------------------------------------------


def test_a_user_without_a_verified_identity_cannot_sign(certificate, holder):
    holder.identity.delete()
    holder.refresh_from_db()

    with pytest.raises(SigningRefused) as refused:
        sign(certificate, holder, make_pdf(1))

    assert refused.value.message == IDENTITY_REQUIRED_MESSAGE
    assert not SigningRecord.objects.exists()


def test_a_failed_face_check_signs_nothing(certificate, holder, settings):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]

    with pytest.raises(SigningRefused) as refused:
        sign(certificate, holder, make_pdf(1))

    assert (refused.value.field, refused.value.message) == ("selfie", MISMATCH_MESSAGE)
    assert not SigningRecord.objects.exists()


def test_failed_face_checks_are_limited_but_passed_ones_are_not(certificate, holder, settings):
    from yueqiqian.ratelimit import RateLimited

    limit, _ = settings.YQ_RATE_LIMITS["face_check_user"]
    for _ in range(limit + 2):
        sign(certificate, holder, make_pdf(1))
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]
    for _ in range(limit):
        with pytest.raises(SigningRefused):
            sign(certificate, holder, make_pdf(1))

    with pytest.raises(RateLimited):
        sign(certificate, holder, make_pdf(1))


def test_a_removed_employee_cannot_sign(certificate, employee):
    EmployeeAuthorization.objects.update(removed_at=timezone.now())

    with pytest.raises(SigningRefused):
        sign(certificate, employee, make_pdf(1))

    assert not SigningRecord.objects.exists()


def test_a_revoked_certificate_can_no_longer_sign(certificate, holder):
    EnterpriseCertificate.objects.filter(pk=certificate.pk).update(
        status=EnterpriseCertificate.Status.REVOKED, revoked_at=timezone.now()
    )
    certificate.refresh_from_db()

    with pytest.raises(SigningRefused) as refused:
        sign(certificate, holder, make_pdf(1))

    assert refused.value.message == REVOKED_MESSAGE


def test_a_certificate_past_its_date_can_no_longer_sign(certificate, holder):
    # Past its date before the expiry task has marked it: the date decides.
    EnterpriseCertificate.objects.filter(pk=certificate.pk).update(
        not_after=timezone.now() - dt.timedelta(minutes=1)
    )
    certificate.refresh_from_db()

    with pytest.raises(SigningRefused) as refused:
        sign(certificate, holder, make_pdf(1))

    assert refused.value.message == EXPIRED_MESSAGE


def test_a_revocation_after_the_page_was_loaded_is_caught_under_the_lock(
    certificate, holder, monkeypatch
):
    """The certificate is revoked while the face check runs: the row is read again, locked,
    before anything is signed."""
    from certificates import signing_services

    real = signing_services._face_check

    def revoke_during_check(**kwargs):
        real(**kwargs)
        EnterpriseCertificate.objects.filter(pk=certificate.pk).update(
            status=EnterpriseCertificate.Status.REVOKED
        )

    monkeypatch.setattr(signing_services, "_face_check", revoke_during_check)

    with pytest.raises(SigningRefused) as refused:
        sign(certificate, holder, make_pdf(1))

    assert refused.value.message == REVOKED_MESSAGE
    assert not SigningRecord.objects.exists()


def test_a_page_out_of_range_is_refused_before_the_face_check(certificate, holder, settings):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]  # would fail if asked

    with pytest.raises(SigningRefused) as refused:
        sign(certificate, holder, make_pdf(3), page=4)

    assert refused.value.field == "page"
    assert refused.value.message == "该文件共 3 页，盖章页码请填写 1–3"


# ---- The pages ----------------------------------------------------------------------------------


def sign_url(certificate) -> str:
    return reverse("signing:sign", args=[certificate.pk])


def post_sign(client, certificate, *, pdf=None, name="招标文件.pdf", page=1, **extra):
    data = {
        "document": SimpleUploadedFile(name, make_pdf(3) if pdf is None else pdf),
        "page": page,
        "position": SealPosition.BOTTOM_RIGHT,
        "selfie": SimpleUploadedFile("selfie.jpg", selfie_jpeg(), content_type="image/jpeg"),
        **extra,
    }
    return client.post(sign_url(certificate), data)


def test_the_sign_page_offers_the_upload_the_page_the_place_and_the_selfie(
    client, certificate, holder
):
    client.force_login(holder)

    response = client.get(sign_url(certificate))

    body = response.content.decode()
    assert response.status_code == 200
    for label in ["签署文件", "盖章页码", "盖章位置", "右下角", "左下角", "右上角", "页面中央"]:
        assert label in body
    assert 'capture="user"' in body
    assert ">签署</span>" in body
    assert reverse("signing:records", args=[certificate.pk]) in body


def test_signing_on_the_page_downloads_the_signed_pdf(client, certificate, holder):
    client.force_login(holder)

    response = post_sign(client, certificate, page=2)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        "attachment; filename*=utf-8''"
        "%E6%8B%9B%E6%A0%87%E6%96%87%E4%BB%B6-%E5%B7%B2%E7%AD%BE%E7%AB%A0.pdf"
    )
    assert "no-store" in response["Cache-Control"]
    record = SigningRecord.objects.get()
    assert record.signed_sha256 == hashlib.sha256(response.content).hexdigest()
    assert record.page == 2


def test_the_uploaded_document_is_not_stored(client, certificate, holder, private_media):
    before = {p for p in private_media.rglob("*") if p.is_file()}
    assert before  # the seals are stored there: the check looks in the right place
    client.force_login(holder)

    post_sign(client, certificate)

    assert {p for p in private_media.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("who", ["stranger", "removed employee"])
def test_someone_without_the_right_gets_a_404(client, certificate, holder, employee, who):
    if who == "stranger":
        user = UserFactory(phone="13700009999")
        verified(user, real_name="王五", id_number=make_id_number(sequence="099"))
    else:
        EmployeeAuthorization.objects.update(removed_at=timezone.now())
        user = employee
    client.force_login(user)

    assert client.get(sign_url(certificate)).status_code == 404
    assert post_sign(client, certificate).status_code == 404
    assert client.get(reverse("signing:records", args=[certificate.pk])).status_code == 404
    assert not SigningRecord.objects.exists()


def test_without_an_identity_the_page_leads_to_verification(client, certificate, holder):
    holder.identity.delete()
    client.force_login(holder)

    response = client.get(sign_url(certificate))

    body = response.content.decode()
    assert "请先完成实名认证" in body
    assert reverse("accounts:identity") in body
    assert 'name="document"' not in body


def test_a_revoked_certificate_shows_why_and_offers_no_form(client, certificate, holder):
    EnterpriseCertificate.objects.filter(pk=certificate.pk).update(
        status=EnterpriseCertificate.Status.REVOKED
    )
    client.force_login(holder)

    page = client.get(sign_url(certificate))
    posted = post_sign(client, certificate)

    assert REVOKED_MESSAGE in page.content.decode()
    assert 'name="document"' not in page.content.decode()
    assert posted.status_code == 409
    assert not SigningRecord.objects.exists()


def test_a_failed_face_check_on_the_page_says_so_in_chinese(client, certificate, holder, settings):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]
    client.force_login(holder)

    response = post_sign(client, certificate)

    assert response.status_code == 400
    assert MISMATCH_MESSAGE in response.content.decode()
    assert not SigningRecord.objects.exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        ("png", "请上传 PDF 文件"),
        ("text", "请上传 PDF 文件"),
        ("script", "PDF 文件含有脚本、附件或自动操作"),
        ("broken", "PDF 文件已损坏或无法打开"),
    ],
)
def test_only_a_clean_pdf_can_be_signed(client, certificate, holder, upload, message):
    image = io.BytesIO()
    Image.new("RGB", (200, 200), "white").save(image, "PNG")
    content = {
        "png": image.getvalue(),
        "text": b"just some text",
        "script": make_pdf(1).replace(
            b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1)) >>"
        ),
        "broken": b"%PDF-1.4\n" + b"\x00" * 200,
    }[upload]
    client.force_login(holder)

    response = post_sign(client, certificate, pdf=content, name="文件.pdf")

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not SigningRecord.objects.exists()


def test_a_page_out_of_range_on_the_page_names_the_page_count(client, certificate, holder):
    client.force_login(holder)

    response = post_sign(client, certificate, page=9)

    assert response.status_code == 400
    assert "该文件共 3 页，盖章页码请填写 1–3" in response.content.decode()


def test_an_oversized_pdf_is_refused_without_reading_it_all(client, certificate, holder, settings):
    settings.YQ_UPLOAD_MAX_BYTES = 4096
    client.force_login(holder)

    response = post_sign(client, certificate, pdf=make_pdf(1) + b"%" + b"x" * 8000)

    assert response.status_code == 400
    assert "文件不能超过 4KB" in response.content.decode()


# ---- 签署记录 -----------------------------------------------------------------------------------


def test_the_holder_sees_every_record_and_an_employee_only_their_own(
    client, certificate, holder, employee
):
    sign(certificate, holder, make_pdf(1))
    sign(certificate, employee, make_pdf(1))
    url = reverse("signing:records", args=[certificate.pk])

    client.force_login(holder)
    holder_page = client.get(url).content.decode()
    client.force_login(employee)
    employee_page = client.get(url).content.decode()

    assert holder_page.count('data-testid="signing-record"') == 2
    assert "张三" in holder_page
    assert "李四" in holder_page
    assert employee_page.count('data-testid="signing-record"') == 1
    assert "李四" in employee_page
    assert "张三" not in employee_page


@pytest.mark.parametrize("rows", [1, 25])
def test_the_records_page_makes_the_same_queries_for_1_or_25_records(
    client, certificate, holder, employee, django_assert_max_num_queries, rows
):
    SigningRecord.objects.bulk_create(
        SigningRecord(
            certificate=certificate,
            signer=holder if n % 2 else employee,
            document_name=f"文件{n}.pdf",
            document_sha256="a" * 64,
            signed_sha256="b" * 64,
            page=1,
        )
        for n in range(rows)
    )
    client.force_login(holder)

    # session, user, certificate, count, the page of records
    with django_assert_max_num_queries(5):
        response = client.get(reverse("signing:records", args=[certificate.pk]))

    assert response.content.decode().count('data-testid="signing-record"') == min(rows, 20)
