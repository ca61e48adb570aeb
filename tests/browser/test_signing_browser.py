"""电子签章 on a phone (390×844): the administrator of an issued certificate uploads a PDF, picks
the page and the place, takes the selfie and taps 【签署】; the signed PDF downloads; then, on
another phone and not logged in, the public 验证签章 page says 有效签名 for that very file."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from certificates.models import SigningRecord
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot
from tests.browser.test_identity_browser import log_in, selfie_jpeg
from tests.certificates.test_signing import (
    ENTERPRISE,
    make_pdf,
    media_in,
    seal_annotations,
    sign,
    signing_setup,
)
from tests.certificates.test_verify import foreign_signed_pdf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _sandbox_face_check(settings, tmp_path):
    settings.YQ_FACE_PROVIDER = "accounts.faceauth.SandboxFaceCheckProvider"
    settings.YQ_FACE_SANDBOX_FAIL_IDS = []
    media_in(settings, tmp_path / "private")


@pytest.fixture
def issued():
    """An administrator (张三) with a certificate issued and stored in the database."""
    return signing_setup()


@pytest.fixture
def certificate(issued):
    return issued[0]


@pytest.fixture
def holder(issued):
    return issued[1]


def choose_pdf(page, content: bytes, name: str = "投标文件（商务部分）.pdf") -> None:
    page.get_by_label("签署文件").set_input_files(
        files=[{"name": name, "mimeType": "application/pdf", "buffer": content}]
    )


def take_selfie(page) -> None:
    page.get_by_label("拍摄人脸照片").set_input_files(
        files=[{"name": "selfie.jpg", "mimeType": "image/jpeg", "buffer": selfie_jpeg()}]
    )


def test_the_administrator_signs_on_the_phone_and_the_download_verifies(
    live_server, page, phone_context, sms_outbox, certificate, holder, tmp_path
):
    sign_path = f"/sign/{certificate.pk}/"
    log_in(page, live_server, sms_outbox, holder.phone, sign_path)
    expect(page).to_have_url(f"{live_server.url}{sign_path}")
    expect(page.get_by_role("heading", name=ENTERPRISE)).to_be_visible()
    expect(page.get_by_label("拍摄人脸照片")).to_have_attribute("capture", "user")
    assert_no_horizontal_scroll(page)
    screenshot(page, "sign-01-form")

    choose_pdf(page, make_pdf(3))
    page.get_by_label("盖章页码").fill("2")
    page.get_by_label("右下角").check()
    take_selfie(page)
    expect(page.get_by_text("已拍摄，点击上方可重拍")).to_be_visible()
    screenshot(page, "sign-02-filled")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="签署", exact=True).click()
    download = download_info.value

    assert download.suggested_filename == "投标文件（商务部分）-已签章.pdf"
    signed_path = tmp_path / download.suggested_filename
    download.save_as(signed_path)
    signed = signed_path.read_bytes()
    expect(page.get_by_role("heading", name="签署完成")).to_be_visible()
    expect(page.get_by_text(download.suggested_filename)).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "sign-03-done")
    record = SigningRecord.objects.get()
    assert (record.page, record.document_name) == (2, "投标文件（商务部分）.pdf")
    assert list(seal_annotations(signed)) == [2]

    page.get_by_role("link", name=re.compile("签署记录")).click()
    expect(page.get_by_text("投标文件（商务部分）.pdf")).to_be_visible()
    expect(page.get_by_text("第 2 页")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "sign-04-records")

    # Anyone, not logged in, on another phone.
    stranger = phone_context().new_page()
    stranger.goto(f"{live_server.url}/sign/verify/")
    expect(stranger.get_by_role("heading", name="验证签章")).to_be_visible()
    assert_no_horizontal_scroll(stranger)
    screenshot(stranger, "verify-01-form")
    stranger.get_by_label("已签章的 PDF 文件").set_input_files(str(signed_path))
    stranger.get_by_role("button", name="验证").click()

    expect(stranger.get_by_role("heading", name="有效签名")).to_be_visible()
    expect(stranger.get_by_test_id("signer")).to_have_text(ENTERPRISE)
    expect(stranger.get_by_test_id("ca")).to_have_text(certificate.ca.name)
    expect(stranger.get_by_test_id("integrity")).to_have_text("未修改")
    expect(stranger.get_by_test_id("status-now")).to_contain_text("有效")
    assert_no_horizontal_scroll(stranger)
    screenshot(stranger, "verify-02-valid")


def test_a_failed_face_check_keeps_the_chosen_pdf(
    live_server, page, sms_outbox, certificate, holder, settings
):
    settings.YQ_FACE_SANDBOX_FAIL_IDS = [holder.identity.id_number]
    sign_path = f"/sign/{certificate.pk}/"
    log_in(page, live_server, sms_outbox, holder.phone, sign_path)
    choose_pdf(page, make_pdf(1))
    take_selfie(page)

    page.get_by_role("button", name="签署", exact=True).click()

    expect(page.get_by_text("人脸比对未通过")).to_be_visible()
    expect(page.get_by_text("人脸比对未通过")).to_be_in_viewport()
    assert page.get_by_label("签署文件").evaluate("input => input.files.length") == 1
    expect(page.get_by_text("请重新选择文件")).to_have_count(0)
    assert not SigningRecord.objects.exists()
    assert_no_horizontal_scroll(page)
    screenshot(page, "sign-05-face-failed")

    # A page past the end, with a fresh selfie, is named with the page count.
    settings.YQ_FACE_SANDBOX_FAIL_IDS = []
    page.get_by_label("盖章页码").fill("5")
    take_selfie(page)
    page.get_by_role("button", name="签署", exact=True).click()
    expect(page.get_by_text("该文件共 1 页，盖章页码请填写 1–1")).to_be_visible()
    assert not SigningRecord.objects.exists()


def in_thread(function, *args, **kwargs):
    """pyHanko runs its own asyncio loop; Playwright's is running in this thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args, **kwargs).result()


def test_the_verify_page_answers_altered_foreign_and_unsigned_files(
    live_server, page, certificate, holder, tmp_path
):
    signed = in_thread(sign, certificate, holder, make_pdf(2), page=1).content
    at = signed.index(b"Tender document - page 1")
    files = {
        "altered": (signed[:at] + b"X" + signed[at + 1 :], "文档已被修改"),
        "foreign": (in_thread(foreign_signed_pdf), "签名证书不是本平台 CA 签发"),
        "unsigned": (make_pdf(1), "未签名"),
        "garbage": (b"not a pdf at all", "无法识别的文件"),
    }
    page.goto(f"{live_server.url}/sign/verify/")

    for kind, (content, verdict) in files.items():
        page.get_by_label("已签章的 PDF 文件").set_input_files(
            files=[{"name": f"{kind}.pdf", "mimeType": "application/pdf", "buffer": content}]
        )
        page.get_by_role("button", name="验证").click()

        expect(page.get_by_role("heading", name=verdict)).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, f"verify-03-{kind}")
