"""对公银行账号转账验证授权 on a phone (390×844): an applicant whose enterprise is registered
outside Guangdong picks the only authorization offered, fills 银行信息 with a photo of the
营业执照 and the signed 业务授权书 as a PDF, e-mails the letter, goes 【下一步】 to the CA's
account, the amount and the remark, and 【上传凭证】 ends on the order at 待审核."""

import io
import re

import pytest
from django.core import mail
from PIL import Image
from playwright.sync_api import expect

from authorization.models import BankTransfer
from authorization.transfer_services import (
    transfer_documents_save,
    transfer_start,
    transfer_submit,
)
from authorization.uploads import clean_upload
from orders.models import Order
from orders.services import agreement_accept, order_transition
from orders.states import AuthorizationMethod, OrderStatus
from tests.browser.conftest import assert_no_horizontal_scroll, screenshot
from tests.factories import (
    AgreementVersionFactory,
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    make_id_number,
    verified,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PHONE = "13712345678"
SHANGHAI = make_credit_code("91310115MA1K4AB3D")


@pytest.fixture
def order(settings, tmp_path):
    """李四 applies for a Shanghai enterprise; the order waits for authorization."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    applicant = UserFactory(phone=PHONE)
    verified(applicant, real_name="李四", id_number=make_id_number(sequence="001"))
    ca = CAInstitutionFactory(
        name="珠江电子认证（演示）",
        contact_phone="020-8000-0002",
        bank_account_name="珠江电子认证有限公司（演示）",
        bank_name="中国建设银行广州珠江支行（演示）",
        bank_account_number="4400 1000 0000 0000 002",
        transfer_remark_format="{ref}-{credit_code}",
    )
    package = PackageFactory(ca=ca, name="标准套餐", price_per_year_fen=300_00)
    agreement = AgreementVersionFactory(ca=ca, version=1, title="数字证书业务协议书")
    order = filled_application(
        applicant=applicant,
        package=package,
        credit_code=SHANGHAI,
        enterprise_name="上海示例信息技术有限公司",
        years=2,
        extra_seats=1,
    )
    agreement_accept(order=order, actor=applicant, agreement=agreement, ip="", user_agent="")
    return Order.objects.get(pk=order.pk)


def licence_photo(tmp_path) -> str:
    """A phone photo of a licence: a page with some print on it."""
    image = Image.new("RGB", (1200, 900), (246, 240, 226))
    for row in range(12):
        image.paste((120, 40, 30), (150, 120 + row * 55, 1050, 132 + row * 55))
    path = tmp_path / "IMG_2041.JPG"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    path.write_bytes(buffer.getvalue())
    return str(path)


def signed_letter(tmp_path) -> str:
    from authorization.letter import Letter
    from invoices.pdf import render_authorization_letter_pdf

    letter = Letter(
        title="业务授权书", paragraphs=["致：", "（已签字盖章）"], signature_lines=["签字"]
    )
    path = tmp_path / "授权书-已签字.pdf"
    path.write_bytes(render_authorization_letter_pdf(letter))
    return str(path)


def voucher_screenshot(tmp_path) -> str:
    image = Image.new("RGB", (750, 1334), (255, 255, 255))
    image.paste((7, 193, 96), (275, 200, 475, 400))
    path = tmp_path / "voucher.png"
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    return str(path)


def shot(page, name: str) -> None:
    """A full-page screenshot from the top (the sticky bars stay where they belong)."""
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, name)


def log_in(page, live_server, sms_outbox):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("手机号").fill(PHONE)
    page.get_by_role("button", name="获取验证码").click()
    expect(page.get_by_text("验证码已发送")).to_be_visible()
    page.get_by_label("验证码").fill(sms_outbox.last_code(PHONE))
    page.get_by_role("button", name="登录", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/")


def test_an_out_of_province_applicant_authorizes_by_bank_transfer_on_a_phone(
    live_server, phone_context, sms_outbox, order, tmp_path
):
    context = phone_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    log_in(page, live_server, sms_outbox)

    # 选择授权方式: bank transfer is the only option for a Shanghai enterprise.
    page.goto(f"{live_server.url}/orders/{order.number}/")
    page.get_by_role("link", name="继续办理").click()
    expect(page.get_by_text("省外企业仅支持对公银行账号转账验证授权")).to_be_visible()
    expect(page.locator(".choice")).to_have_count(1)
    expect(page.get_by_role("heading", name="对公银行账号转账验证授权")).to_be_visible()
    assert_no_horizontal_scroll(page)
    shot(page, "transfer-01-choose")
    page.get_by_role("link", name="填写银行信息").click()

    # 银行信息
    expect(page).to_have_url(re.compile(rf"/transfer/{order.number}/$"))
    expect(page.get_by_label("公司名称")).to_have_value("上海示例信息技术有限公司")
    shot(page, "transfer-02-bank-info-empty")
    page.get_by_label("对公银行账号").fill("3100 6666 0180 5012 345")
    page.get_by_label("营业执照").set_input_files(licence_photo(tmp_path))
    page.get_by_label("已签字的业务授权书").set_input_files(signed_letter(tmp_path))

    # 发送至邮箱 (htmx): the letter goes to the applicant's e-mail, the page stays.
    expect(page.get_by_label("发送至邮箱")).to_have_value("zhang@example.cn")
    page.get_by_role("button", name="发送").click()
    expect(
        page.get_by_role("status").get_by_text("已发送至 zhang@example.cn，请查收")
    ).to_be_visible()
    # Only the e-mail form was swapped: the files just chosen are still there.
    assert page.eval_on_selector("#id_business_license", "input => input.files.length") == 1
    assert page.eval_on_selector("#id_signed_letter", "input => input.files.length") == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].attachments[0][1].startswith(b"%PDF-")
    assert_no_horizontal_scroll(page)
    shot(page, "transfer-03-bank-info-filled")

    # 【下一步】: the CA's account, the exact amount and the remark in that CA's format.
    page.get_by_role("button", name="下一步").click()
    expect(page).to_have_url(re.compile(rf"/transfer/{order.number}/pay/$"))
    transfer = BankTransfer.objects.get(order=order)
    expect(page.get_by_test_id("payee-name")).to_have_text("珠江电子认证有限公司（演示）")
    expect(page.get_by_test_id("payee-bank")).to_have_text("中国建设银行广州珠江支行（演示）")
    expect(page.get_by_test_id("payee-account")).to_have_text("4400 1000 0000 0000 002")
    expect(page.get_by_test_id("transfer-amount")).to_have_text(
        "¥800.00"
    )  # 300 × 2 years + 100 × 1 seat × 2
    remark = f"{transfer.reference}-{SHANGHAI}"
    expect(page.get_by_test_id("transfer-remark")).to_have_text(remark)
    page.get_by_role("button", name="复制备注").click()
    expect(page.get_by_role("button", name="已复制")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == remark
    assert_no_horizontal_scroll(page)
    shot(page, "transfer-04-pay-info")

    # 【上传凭证】 → 待审核
    page.get_by_label("转账凭证").set_input_files(voucher_screenshot(tmp_path))
    page.get_by_role("button", name="上传凭证").click()
    expect(page).to_have_url(re.compile(rf"/orders/{order.number}/$"))
    expect(page.get_by_test_id("order-status")).to_have_text("待审核")
    expect(page.get_by_test_id("transfer-pending")).to_be_visible()
    assert_no_horizontal_scroll(page)
    shot(page, "transfer-05-pending-review")

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW
    assert order.authorization_method == AuthorizationMethod.BANK_TRANSFER
    transfer.refresh_from_db()
    assert transfer.bank_account == "3100666601805012345"
    assert transfer.business_license.name.endswith(".jpg")
    assert transfer.signed_letter.name.endswith(".pdf")
    assert transfer.voucher.name.endswith(".png")


def test_a_rejected_applicant_sees_why_corrects_and_resubmits(
    live_server, page, sms_outbox, order, tmp_path
):
    """审核不通过 → the reason and the CA's phone → 重新提交 with a clearer licence, keeping
    the letter and the voucher already uploaded → 待审核 again."""
    applicant = order.applicant
    transfer = transfer_start(
        order=order, actor=applicant, company_name=order.enterprise_name, bank_account="31006666"
    )
    with open(licence_photo(tmp_path), "rb") as licence, open(signed_letter(tmp_path), "rb") as pdf:
        transfer_documents_save(
            transfer=transfer,
            business_license=clean_upload(licence, max_bytes=10**7),
            signed_letter=clean_upload(pdf, max_bytes=10**7),
        )
    with open(voucher_screenshot(tmp_path), "rb") as voucher:
        order = transfer_submit(
            order=order, actor=applicant, voucher=clean_upload(voucher, max_bytes=10**7)
        )
    BankTransfer.objects.filter(pk=transfer.pk).update(
        support_decision=BankTransfer.Decision.REJECTED,
        support_reason="营业执照照片不清晰，请重新拍摄上传",
    )
    order_transition(order=order, to=OrderStatus.REJECTED, reason="客服审核不通过")
    log_in(page, live_server, sms_outbox)

    page.goto(f"{live_server.url}/orders/{order.number}/")
    expect(page.get_by_test_id("order-status")).to_have_text("审核不通过")
    expect(page.get_by_test_id("rejection-reason")).to_have_text(
        "营业执照照片不清晰，请重新拍摄上传"
    )
    expect(page.get_by_role("link", name="020-8000-0002")).to_have_attribute(
        "href", "tel:020-8000-0002"
    )
    assert_no_horizontal_scroll(page)
    shot(page, "transfer-06-rejected")

    page.get_by_role("link", name="重新提交").click()
    expect(page.get_by_role("heading", name="审核不通过")).to_be_visible()
    expect(page.get_by_test_id("uploaded-business_license")).to_contain_text("已上传 ✓")
    expect(page.get_by_test_id("uploaded-signed_letter")).to_contain_text("已上传 ✓")
    page.get_by_label("对公银行账号").fill("3100-66ab")
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_text("对公银行账号只能包含数字")).to_be_visible()
    expect(page.get_by_label("对公银行账号")).to_have_value("3100-66ab")
    assert_no_horizontal_scroll(page)
    shot(page, "transfer-07-resubmit-error")

    page.get_by_label("对公银行账号").fill("3100 6666 0180 5012 345")
    page.get_by_label("营业执照").set_input_files(licence_photo(tmp_path))
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_test_id("uploaded-voucher")).to_contain_text("已上传 ✓")
    page.get_by_role("button", name="上传凭证").click()

    expect(page.get_by_test_id("order-status")).to_have_text("待审核")
    transfer.refresh_from_db()
    assert transfer.support_decision == BankTransfer.Decision.PENDING
    assert transfer.support_reason == ""
    assert transfer.bank_account == "3100666601805012345"
