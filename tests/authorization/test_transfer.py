"""对公银行账号转账验证授权: 银行信息 with uploads → 收款信息 (the CA's account, the amount, the
remark in the CA's format) → 【上传凭证】 → 待审核; the refusals; the 业务授权书 by e-mail; the
checked file view; correcting and resubmitting after 审核不通过."""

import io
import re

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from authorization import transfer_services
from authorization.models import BankTransfer
from authorization.transfer_services import (
    REFERENCE_ALPHABET,
    TransferError,
    transfer_start,
    transfer_submit,
)
from authorization.uploads import CleanFile
from orders.services import order_transition
from orders.states import AuthorizationMethod, OrderStatus
from tests.factories import (
    CAInstitutionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
    verified,
)

pytestmark = pytest.mark.django_db
SHANGHAI = make_credit_code("91310115MA1K4AB3D")  # out of province
GUANGZHOU = make_credit_code("91440106MA59A1B2C")


# ---- Fixtures and helpers -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_storage(settings, tmp_path):
    location = tmp_path / "private"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": location, "base_url": None},
        },
    }
    return location


@pytest.fixture
def ca(db):
    return CAInstitutionFactory(
        name="南粤数字认证（演示）",
        contact_phone="020-8000 0001",
        bank_account_name="南粤数字认证服务有限公司",
        bank_name="中国工商银行广州天河支行",
        bank_account_number="3602 0000 0000 0000 001",
        transfer_remark_format="粤企签{ref}-{credit_code}",
    )


@pytest.fixture
def package(ca):
    return PackageFactory(ca=ca, price_per_year_fen=1_234_50)


@pytest.fixture
def applicant(client):
    user = UserFactory()
    verified(user, real_name="李四")
    client.force_login(user)
    return user


def awaiting(applicant, package, credit_code=SHANGHAI):
    order = filled_application(applicant=applicant, package=package, credit_code=credit_code)
    return order_transition(order=order, to=OrderStatus.AWAITING_AUTHORIZATION, actor=applicant)


@pytest.fixture
def order(applicant, package):
    return awaiting(applicant, package)


def jpeg_bytes(size=(300, 200), colour=(200, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def png_bytes(size=(300, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def pdf_bytes() -> bytes:
    from authorization.letter import Letter
    from invoices.pdf import render_authorization_letter_pdf

    return render_authorization_letter_pdf(
        Letter(title="业务授权书", paragraphs=["致：", "已签字"], signature_lines=["签字："])
    )


def file(content: bytes, name: str):
    handle = io.BytesIO(content)
    handle.name = name
    return handle


def bank_info_url(order):
    return reverse("transfer:bank_info", args=[order.number])


def pay_info_url(order):
    return reverse("transfer:pay_info", args=[order.number])


def post_bank_info(client, order, **overrides):
    data = {
        "company_name": "上海示例科技有限公司",
        "bank_account": "6222 0200 1234 5678",
        "business_license": file(jpeg_bytes(), "营业执照.jpg"),
        "signed_letter": file(pdf_bytes(), "授权书.pdf"),
    }
    data.update(overrides)
    data = {key: value for key, value in data.items() if value is not None}
    return client.post(bank_info_url(order), data)


def post_voucher(client, order, content=None, name="回单.png"):
    data = {"voucher": file(content or png_bytes(), name)} if content is not False else {}
    return client.post(pay_info_url(order), data)


def submitted(client, order):
    assert post_bank_info(client, order).status_code == 302
    assert post_voucher(client, order).status_code == 302
    order.refresh_from_db()
    return order


def rejected(order, *, by="ca", reason="转账金额不符，请按订单金额重新转账"):
    """As the admin's reviews leave it (authorization/review.py)."""
    transfer = order.bank_transfer
    transfer.support_decision = BankTransfer.Decision.APPROVED
    transfer.support_reviewer = UserFactory(is_staff=True)
    if by == "ca":
        transfer.ca_decision = BankTransfer.Decision.REJECTED
        transfer.ca_reason = reason
        transfer.ca_reviewer = UserFactory(is_staff=True)
    else:
        transfer.support_decision = BankTransfer.Decision.REJECTED
        transfer.support_reason = reason
    transfer.save()
    order_transition(order=order, to=OrderStatus.REJECTED, reason=f"审核不通过：{reason}")
    order.refresh_from_db()
    return order


# ---- The applicant's path -------------------------------------------------------------------


def test_the_choose_page_leads_an_out_of_province_applicant_to_the_bank_info_page(client, order):
    page = client.get(reverse("orders:authorize", args=[order.number])).content.decode()

    assert "法定代表人刷脸验证授权" not in page.split("page-note")[-1]
    assert f'href="{bank_info_url(order)}"' in page


def test_the_bank_info_page_prefills_the_company_and_offers_the_letter(client, order):
    response = client.get(bank_info_url(order))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'aria-current="step"' in page
    assert "授权" in page
    assert f'value="{order.enterprise_name}"' in page
    for label, name in [
        ("公司名称", "company_name"),
        ("对公银行账号", "bank_account"),
        ("营业执照", "business_license"),
        ("已签字的业务授权书", "signed_letter"),
    ]:
        assert f'<label for="id_{name}">{label}</label>' in page
    assert page.count('accept="image/jpeg,image/png,application/pdf"') == 2
    letter = reverse("orders:letter_pdf", args=[order.number])
    assert f'href="{letter}?inline=1"' in page
    assert f'href="{letter}" download' in page
    assert reverse("transfer:letter_email", args=[order.number]) in page
    assert f'value="{order.applicant_email}"' in page
    assert 'form="bank-info"' in page
    assert ">下一步<" in page


def test_the_full_path_ends_in_review_with_bank_transfer(client, order, private_storage):
    letter = pdf_bytes()

    response = post_bank_info(client, order, signed_letter=file(letter, "授权书.pdf"))

    assert response.status_code == 302
    assert response["Location"] == pay_info_url(order)
    transfer = BankTransfer.objects.get(order=order)
    assert transfer.company_name == "上海示例科技有限公司"
    assert transfer.bank_account == "6222020012345678"
    assert re.fullmatch(rf"[{REFERENCE_ALPHABET}]{{8}}", transfer.reference)
    assert re.fullmatch(r"transfers/\d{4}/\d{2}/[0-9a-f]{32}\.jpg", transfer.business_license.name)
    assert re.fullmatch(r"transfers/\d{4}/\d{2}/[0-9a-f]{32}\.pdf", transfer.signed_letter.name)
    assert (private_storage / transfer.signed_letter.name).read_bytes() == letter  # as signed

    pay = client.get(pay_info_url(order)).content.decode()
    assert "南粤数字认证服务有限公司" in pay
    assert "中国工商银行广州天河支行" in pay
    assert "3602 0000 0000 0000 001" in pay
    assert 'data-copy="3602000000000000001"' in pay
    assert "¥1,234.50" in pay
    assert 'data-copy="1234.50"' in pay
    remark = f"粤企签{transfer.reference}-{SHANGHAI}"
    assert f'data-testid="transfer-remark">{remark}<' in pay
    assert "一字不差" in pay
    assert "尾号 5678" in pay

    response = post_voucher(client, order)

    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[order.number])
    order.refresh_from_db()
    transfer.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW
    assert order.authorization_method == AuthorizationMethod.BANK_TRANSFER
    assert order.events.last().reason == "上传转账凭证，等待审核"
    assert order.events.last().actor == order.applicant
    assert transfer.voucher.name.endswith(".png")
    assert transfer.voucher_uploaded_at is not None
    detail = client.get(response["Location"]).content.decode()
    assert ">待审核<" in detail
    assert 'data-testid="transfer-pending"' in detail
    assert "转账凭证已上传，请等待审核" in detail


def test_stored_images_are_the_re_encoded_ones_not_the_uploaded_bytes(client, order):
    original = jpeg_bytes() + b"<script>alert(1)</script>"

    post_bank_info(client, order, business_license=file(original, "a.jpg"))

    stored = BankTransfer.objects.get(order=order).business_license.read()
    assert stored != original
    assert b"<script" not in stored
    assert stored.startswith(b"\xff\xd8\xff")


def test_a_revisit_shows_the_uploaded_files_and_keeps_them(client, order):
    post_bank_info(client, order)
    transfer = BankTransfer.objects.get(order=order)

    page = client.get(bank_info_url(order)).content.decode()

    assert page.count("已上传 ✓") == 2
    assert reverse("transfer:file", args=[order.number, "license"]) in page
    assert reverse("transfer:file", args=[order.number, "letter"]) in page
    assert 'value="6222020012345678"' in page
    response = post_bank_info(
        client, order, company_name="上海示例科技有限公司（新）", business_license=None,
        signed_letter=None,
    )  # fmt: skip
    assert response.status_code == 302
    kept = BankTransfer.objects.get(order=order)
    assert kept.company_name == "上海示例科技有限公司（新）"
    assert kept.reference == transfer.reference
    assert kept.business_license.name == transfer.business_license.name


def test_replacing_a_document_deletes_the_old_file_once_committed(
    client, order, django_capture_on_commit_callbacks
):
    post_bank_info(client, order)
    old = BankTransfer.objects.get(order=order).business_license.name

    with django_capture_on_commit_callbacks(execute=True):
        post_bank_info(
            client, order, business_license=file(png_bytes(), "new.png"), signed_letter=None
        )

    new = BankTransfer.objects.get(order=order).business_license.name
    assert new.endswith(".png")
    assert new != old
    assert default_storage.exists(new)
    assert not default_storage.exists(old)


def test_field_errors_are_in_chinese_and_typed_text_is_kept(client, order):
    response = post_bank_info(
        client, order, company_name="上海某某公司", bank_account="6222-abc", business_license=None
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "对公银行账号只能包含数字" in page
    assert 'value="上海某某公司"' in page
    assert 'value="6222-abc"' in page
    assert "请修正上面的信息后重新选择此文件" in page  # the letter was fine but not kept
    assert not BankTransfer.objects.exists()


@pytest.mark.parametrize(
    ("account", "message"),
    [
        ("", "请输入对公银行账号"),
        ("1234567", "对公银行账号应为8至30位数字"),
        ("1" * 31, "对公银行账号应为8至30位数字"),
        ("１２３４５６７８９０", None),  # full-width digits from a Chinese keyboard are fine
        ("6222 0200-1234 5678", None),
    ],
)
def test_the_account_is_8_to_30_digits(client, order, account, message):
    response = post_bank_info(client, order, bank_account=account)

    if message:
        assert message in response.content.decode()
    else:
        assert response.status_code == 302
        assert BankTransfer.objects.get(order=order).bank_account.isdigit()


def test_one_bad_file_is_refused_and_the_good_one_is_kept(client, order):
    html = b"<html><body><script>alert(1)</script></body></html>"

    response = post_bank_info(client, order, signed_letter=file(html, "letter.pdf"))

    page = response.content.decode()
    assert response.status_code == 400
    assert "仅支持 JPG、PNG 或 PDF 文件" in page
    transfer = BankTransfer.objects.get(order=order)
    assert transfer.business_license
    assert not transfer.signed_letter
    assert page.count("已上传 ✓") == 1


def test_both_documents_are_required_before_the_next_step(client, order):
    response = post_bank_info(client, order, business_license=None, signed_letter=None)

    page = response.content.decode()
    assert response.status_code == 400
    assert "请上传营业执照" in page
    assert "请上传已签字的业务授权书" in page
    follow = client.get(pay_info_url(order))
    assert follow.status_code == 302
    assert follow["Location"] == bank_info_url(order)


def test_an_upload_over_the_limit_is_dropped_as_it_arrives(client, order, settings):
    settings.YQ_UPLOAD_MAX_BYTES = 4096

    response = post_bank_info(
        client, order, business_license=file(jpeg_bytes((1200, 900)), "big.jpg")
    )

    assert response.status_code == 400
    assert "文件不能超过 4KB" in response.content.decode()
    assert not BankTransfer.objects.get(order=order).business_license


def test_the_voucher_is_required(client, order):
    post_bank_info(client, order)

    response = post_voucher(client, order, content=False)

    assert response.status_code == 400
    assert "请上传转账凭证" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_AUTHORIZATION


def test_a_voucher_that_is_not_an_image_or_pdf_is_refused(client, order):
    post_bank_info(client, order)

    response = post_voucher(client, order, content=b"MZ\x90\x00 not really", name="voucher.png")

    assert response.status_code == 400
    assert "仅支持 JPG、PNG 或 PDF 文件" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.AWAITING_AUTHORIZATION


def test_the_service_refuses_a_submission_without_the_documents(order):
    transfer_start(
        order=order, actor=order.applicant, company_name="甲公司", bank_account="12345678"
    )
    voucher = CleanFile(content=png_bytes(), extension="png", content_type="image/png")

    with pytest.raises(TransferError, match="请先填写银行信息"):
        transfer_submit(order=order, actor=order.applicant, voucher=voucher)


def test_a_failed_submission_leaves_no_voucher_file_behind(client, order, monkeypatch):
    post_bank_info(client, order)
    written = []
    real_store = transfer_services._FileWrites.store

    def store(self, transfer, field_name, clean):
        real_store(self, transfer, field_name, clean)
        written.append(getattr(transfer, field_name).name)

    def conflict(**kwargs):
        raise transfer_services.TransitionConflict("moved")

    monkeypatch.setattr(transfer_services._FileWrites, "store", store)
    monkeypatch.setattr(transfer_services, "order_transition", conflict)

    response = post_voucher(client, order)

    assert response.status_code == 400
    assert "订单状态已变化" in response.content.decode()
    assert written
    assert not default_storage.exists(written[0])
    assert not BankTransfer.objects.get(order=order).voucher


# ---- Who and when ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [OrderStatus.DRAFT, OrderStatus.AUTHORIZED, OrderStatus.CANCELLED]
)
def test_the_pages_are_closed_in_other_statuses(client, applicant, package, status):
    order = filled_application(applicant=applicant, package=package, credit_code=SHANGHAI)
    if status != OrderStatus.DRAFT:
        order = order_transition(order=order, to=OrderStatus.AWAITING_AUTHORIZATION)
        order = order_transition(order=order, to=status)

    for url in [bank_info_url(order), pay_info_url(order)]:
        assert client.get(url)["Location"] == reverse("orders:detail", args=[order.number])
    response = post_bank_info(client, order)

    assert response["Location"] == reverse("orders:detail", args=[order.number])
    assert not BankTransfer.objects.exists()


def test_a_submitted_order_cannot_be_submitted_again(client, order):
    submitted(client, order)

    response = post_voucher(client, order)
    voucher = CleanFile(content=png_bytes(), extension="png", content_type="image/png")

    assert response["Location"] == reverse("orders:detail", args=[order.number])
    with pytest.raises(TransferError, match="待审核"):
        transfer_submit(order=order, actor=order.applicant, voucher=voucher)


def test_only_the_applicant_may_use_the_services(order):
    stranger = UserFactory()

    with pytest.raises(TransferError, match="只有订单申请人"):
        transfer_start(order=order, actor=stranger, company_name="甲", bank_account="12345678")


def test_another_users_order_is_a_404_everywhere(client, order):
    submitted(client, order)
    stranger = UserFactory()
    verified(stranger)
    client.force_login(stranger)

    for url in [bank_info_url(order), pay_info_url(order)]:
        assert client.get(url).status_code == 404
    assert post_bank_info(client, order).status_code == 404
    assert post_voucher(client, order).status_code == 404
    email = reverse("transfer:letter_email", args=[order.number])
    assert client.post(email, {"email": "x@example.cn"}).status_code == 404
    for kind in ["license", "letter", "voucher"]:
        assert client.get(reverse("transfer:file", args=[order.number, kind])).status_code == 404


def test_pages_need_a_login(order):
    anonymous = Client()

    response = anonymous.get(bank_info_url(order))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    file_url = reverse("transfer:file", args=[order.number, "license"])
    assert anonymous.get(file_url)["Location"].startswith(reverse("accounts:login"))


def test_the_upload_pages_check_csrf(applicant, order):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(applicant)

    assert post_bank_info(strict, order).status_code == 403
    assert not BankTransfer.objects.exists()


def test_in_province_applicants_may_use_the_transfer_too(client, applicant, package):
    order = awaiting(applicant, package, credit_code=GUANGZHOU)

    assert post_bank_info(client, order).status_code == 302
    assert post_voucher(client, order).status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_REVIEW


# ---- The file view --------------------------------------------------------------------------


def test_the_owner_gets_each_upload_with_safe_headers(client, order):
    submitted(client, order)
    transfer = order.bank_transfer

    image = client.get(reverse("transfer:file", args=[order.number, "license"]))
    letter = client.get(reverse("transfer:file", args=[order.number, "letter"]))
    voucher = client.get(reverse("transfer:file", args=[order.number, "voucher"]))

    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    assert b"".join(image.streaming_content) == transfer.business_license.read()
    assert image["Content-Disposition"].startswith("inline; filename")
    assert order.number in image["Content-Disposition"]
    assert image["X-Content-Type-Options"] == "nosniff"
    assert image["Cache-Control"] == "private, no-store"
    assert image["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert voucher["Content-Type"] == "image/png"
    assert letter["Content-Type"] == "application/pdf"
    assert letter["X-Content-Type-Options"] == "nosniff"
    # PDF viewers refuse to run in a sandboxed document (a blank page in Chrome and Safari).
    assert letter["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_file_view_is_a_404_for_unknown_kinds_and_missing_files(client, order):
    assert client.get(reverse("transfer:file", args=[order.number, "license"])).status_code == 404
    post_bank_info(client, order)

    assert client.get(reverse("transfer:file", args=[order.number, "voucher"])).status_code == 404
    assert client.get(reverse("transfer:file", args=[order.number, "passwd"])).status_code == 404


# ---- Reference codes ------------------------------------------------------------------------


def test_reference_codes_are_unique_and_unambiguous(applicant, package):
    codes = set()
    for number in range(12):
        order = awaiting(
            applicant, package, credit_code=make_credit_code(f"91310115MA1K{number:05d}")
        )
        transfer = transfer_start(
            order=order, actor=applicant, company_name="甲公司", bank_account="12345678"
        )
        codes.add(transfer.reference)
        assert re.fullmatch(rf"[{REFERENCE_ALPHABET}]{{8}}", transfer.reference)
    assert len(codes) == 12
    assert not set("01OIL") & set(REFERENCE_ALPHABET)


def test_a_colliding_reference_is_drawn_again(applicant, package, monkeypatch):
    first = awaiting(applicant, package)
    taken = transfer_start(order=first, actor=applicant, company_name="甲", bank_account="12345678")
    second = awaiting(applicant, package, credit_code=GUANGZHOU)
    draws = iter([taken.reference, taken.reference, "ZZZZ2222"])
    monkeypatch.setattr(transfer_services, "_reference_new", lambda: next(draws))

    transfer = transfer_start(
        order=second, actor=applicant, company_name="乙", bank_account="12345678"
    )

    assert transfer.reference == "ZZZZ2222"


def test_the_remark_follows_each_cas_format(client, applicant):
    other = PackageFactory(ca=CAInstitutionFactory(transfer_remark_format="LN{ref}"))
    order = awaiting(applicant, other)
    post_bank_info(client, order)
    reference = BankTransfer.objects.get(order=order).reference

    page = client.get(pay_info_url(order)).content.decode()

    assert f'data-testid="transfer-remark">LN{reference}<' in page


# ---- 发送至邮箱 -------------------------------------------------------------------------------


def test_the_letter_is_emailed_as_a_pdf(client, order, django_capture_on_commit_callbacks):
    url = reverse("transfer:letter_email", args=[order.number])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"email": "fawu@example.cn"})

    assert response.status_code == 302
    assert response["Location"] == f"{bank_info_url(order)}#letter"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["fawu@example.cn"]
    assert order.number in message.subject
    assert "签字" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert filename == f"业务授权书-{order.number}.pdf"
    assert mimetype == "application/pdf"
    assert content.startswith(b"%PDF-")
    page = client.get(response["Location"]).content.decode()
    assert "业务授权书已发送至 fawu@example.cn" in page


def test_the_letter_email_answers_htmx_with_the_form(
    client, order, django_capture_on_commit_callbacks
):
    url = reverse("transfer:letter_email", args=[order.number])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"email": "fawu@example.cn"}, headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200
    assert page.lstrip().startswith("<form")
    assert "已发送至 fawu@example.cn" in page
    assert len(mail.outbox) == 1


def test_a_bad_address_is_refused(client, order, django_capture_on_commit_callbacks):
    url = reverse("transfer:letter_email", args=[order.number])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"email": "not-an-address"}, headers={"HX-Request": "true"})

    assert "请输入有效的邮箱地址" in response.content.decode()
    assert mail.outbox == []


def test_the_letter_email_is_rate_limited(client, order, django_capture_on_commit_callbacks):
    url = reverse("transfer:letter_email", args=[order.number])

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            client.post(url, {"email": "fawu@example.cn"})
        response = client.post(url, {"email": "fawu@example.cn"}, headers={"HX-Request": "true"})

    assert "操作过于频繁" in response.content.decode()
    assert len(mail.outbox) == 5


# ---- 审核不通过 and resubmission ----------------------------------------------------------------


def test_a_rejected_order_shows_the_reason_the_phone_and_resubmit(client, order):
    order = rejected(submitted(client, order))

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert ">审核不通过<" in page
    assert "转账金额不符，请按订单金额重新转账" in page
    assert 'href="tel:020-80000001"' in page
    assert "020-8000 0001" in page
    assert f'href="{bank_info_url(order)}">重新提交<' in page
    bank = client.get(bank_info_url(order)).content.decode()
    assert "转账金额不符，请按订单金额重新转账" in bank
    assert bank.count("已上传 ✓") == 2


def test_supports_reason_is_shown_when_support_rejected(client, order):
    order = rejected(submitted(client, order), by="support", reason="营业执照照片不清晰")

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert "营业执照照片不清晰" in page


def test_resubmission_after_rejection_resets_both_reviews(client, order):
    order = rejected(submitted(client, order))
    voucher = order.bank_transfer.voucher.name
    reference = order.bank_transfer.reference

    assert post_bank_info(client, order, business_license=file(png_bytes(), "clear.png"),
                          signed_letter=None).status_code == 302  # fmt: skip
    pay = client.get(pay_info_url(order)).content.decode()
    assert "已上传 ✓" in pay  # the voucher may be kept
    response = post_voucher(client, order, content=False)

    assert response.status_code == 302
    order.refresh_from_db()
    transfer = order.bank_transfer
    assert order.status == OrderStatus.PENDING_REVIEW
    assert transfer.reference == reference
    assert transfer.voucher.name == voucher
    assert transfer.support_decision == transfer.ca_decision == BankTransfer.Decision.PENDING
    assert transfer.support_reviewer is None
    assert transfer.ca_reviewer is None
    assert transfer.support_reason == transfer.ca_reason == ""
    assert transfer.support_reviewed_at is None
    assert transfer.ca_reviewed_at is None
    assert [e.to_status for e in order.events.all()][-3:] == [
        OrderStatus.PENDING_REVIEW,
        OrderStatus.REJECTED,
        OrderStatus.PENDING_REVIEW,
    ]


def test_an_unfinished_transfer_offers_to_continue_from_the_order(client, order):
    post_bank_info(client, order, signed_letter=None)

    page = client.get(reverse("orders:detail", args=[order.number])).content.decode()

    assert re.search(rf'href="{bank_info_url(order)}">继续转账授权<', page)
