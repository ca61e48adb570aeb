"""The PDFs: the accepted agreement, the authorization letter and the invoice.

Text is read back with poppler's pdftotext (scripts/system-deps.sh installs it): the CJK font is
an embedded subset, so the content streams hold glyph ids, not characters.
"""

import datetime
import re
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorization.letter import LetterData, authorization_letter
from certificates.seals import SealFontMissing
from invoices import pdf
from invoices.pdf import (
    DEMO_NOTE,
    InvoiceItem,
    InvoiceItemsMismatch,
    amount_in_chinese_capitals,
    invoice_items_for,
    render_agreement_pdf,
    render_authorization_letter_pdf,
    render_invoice_pdf,
)
from tests.factories import new_certificate_order, seat_topup_order

# 09:01:59 UTC is 17:01:59 in Beijing.
ACCEPTED_AT = datetime.datetime(2026, 11, 27, 9, 1, 59, tzinfo=datetime.UTC)
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50 NetType/WIFI Language/zh_CN"
)
CLAUSE = (
    "申请人应当如实提供企业信息、法定代表人信息及经办人信息，并妥善保管移动数字证书的使用凭据。"
)


def pdf_text(data: bytes, tmp_path) -> str:
    """The PDF's text with all whitespace removed: line breaks fall wherever the layout puts
    them, so expected strings are compared without whitespace too."""
    pdftotext = shutil.which("pdftotext")
    if pdftotext is None:
        pytest.fail(
            "pdftotext is not installed: run scripts/system-deps.sh (apt-get install poppler-utils)"
        )
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    result = subprocess.run(
        [pdftotext, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    return squeeze(result.stdout.decode())


def squeeze(text: str) -> str:
    return "".join(text.split())


def page_count(data: bytes) -> int:
    # reportlab writes page objects uncompressed, as "/Type /Page"; "/Type /Pages" is the tree.
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", data))


def assert_complete_pdf_with_embedded_font(data: bytes) -> None:
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    # A TrueType subset is embedded, not a CID font the viewer must substitute.
    assert b"/FontFile2" in data
    assert b"STSong" not in data


def agreement(**overrides) -> bytes:
    fields = {
        "ca_name": "广东数字证书认证中心（演示）",
        "title": "数字证书业务协议书",
        "version": 3,
        "body": "第一条 协议的订立\n本协议由申请人与证书机构订立。\n\n第二条 申请人的义务\n"
        + CLAUSE,
        "order_number": "YQ202611270001",
        "enterprise_name": "广州示例智慧科技有限公司",
        "accepted_at": ACCEPTED_AT,
        "ip_address": "203.0.113.7",
        "user_agent": USER_AGENT,
    }
    return render_agreement_pdf(**(fields | overrides))


def letter_data(**overrides) -> LetterData:
    fields = {
        "enterprise_name": "广州示例智慧科技有限公司",
        "credit_code": "91440101MA5XXXXX1A",
        "legal_rep_name": "李四",
        "legal_rep_id_number_masked": "4401**********1234",
        "applicant_name": "张三",
        "applicant_id_number_masked": "4403**********567X",
        "applicant_phone": "13800138000",
        "ca_name": "广东数字证书认证中心（演示）",
        "package_name": "标准套餐",
        "years": 3,
        "extra_seats": 2,
        "amount_fen": 1_500_00,
        "order_number": "YQ202611270001",
        "date": datetime.date(2026, 11, 27),
    }
    return LetterData(**(fields | overrides))


ITEMS = [
    InvoiceItem("移动数字证书 · 标准套餐", 3, 300_00, 900_00, "年"),
    InvoiceItem("额外授权员工（2名 × 3年）", 6, 100_00, 600_00, "人·年"),
]


def invoice(**overrides) -> bytes:
    fields = {
        "invoice_number": "FP202611270001",
        "issued_at": ACCEPTED_AT,
        "seller_name": "广东数字证书认证中心（演示）",
        "buyer_title": "广州示例智慧科技有限公司",
        "buyer_tax_id": "91440101MA5XXXXX1A",
        "items": ITEMS,
        "total_fen": 1_500_00,
        "remark": "项目编号 GZ-2026-118",
        "order_number": "YQ202611270001",
    }
    return render_invoice_pdf(**(fields | overrides))


# --- 业务协议书 ------------------------------------------------------------------------------


def test_agreement_pdf_is_complete_and_embeds_its_font():
    assert_complete_pdf_with_embedded_font(agreement())


def test_agreement_pdf_has_the_text_and_the_acceptance_record(tmp_path):
    text = pdf_text(agreement(), tmp_path)

    for expected in (
        "广东数字证书认证中心（演示）",
        "数字证书业务协议书",
        "版本v3",
        "第一条协议的订立",
        CLAUSE,
        "签署记录",
        "广州示例智慧科技有限公司",
        "YQ202611270001",
        "2026-11-2717:01:59",  # Asia/Shanghai, whitespace squeezed
        "203.0.113.7",
        squeeze(USER_AGENT),
    ):
        assert expected in text, expected


def test_a_short_agreement_is_one_page_without_page_numbers(tmp_path):
    data = agreement()

    assert page_count(data) == 1
    assert "第1页" not in pdf_text(data, tmp_path)


def test_a_long_agreement_runs_over_pages_numbered_in_the_footer(tmp_path):
    body = "\n".join(f"第{n}条 {CLAUSE * 3}" for n in range(1, 41))

    data = agreement(body=body)

    pages = page_count(data)
    assert pages >= 2
    text = pdf_text(data, tmp_path)
    assert f"第1页/共{pages}页" in text
    assert f"第{pages}页/共{pages}页" in text
    assert "第40条" in text
    assert "签署记录" in text


def test_agreement_text_is_shown_as_typed_not_parsed_as_markup(tmp_path):
    data = agreement(body="甲方 <b>加粗</b> & 乙方 <unclosed")

    assert "甲方<b>加粗</b>&乙方<unclosed" in pdf_text(data, tmp_path)


def test_agreement_without_ip_or_browser_shows_a_dash(tmp_path):
    text = pdf_text(agreement(ip_address=None, user_agent=""), tmp_path)

    assert "IP地址—" in text
    assert "浏览器—" in text


def test_agreement_refuses_a_naive_acceptance_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        agreement(accepted_at=datetime.datetime(2026, 11, 27, 17, 1, 59))  # noqa: DTZ001


# --- 业务授权书 ------------------------------------------------------------------------------


def test_letter_pdf_prints_the_letter_for_signing(tmp_path):
    letter = authorization_letter(letter_data())

    data = render_authorization_letter_pdf(letter)

    assert_complete_pdf_with_embedded_font(data)
    assert page_count(data) == 1
    text = pdf_text(data, tmp_path)
    assert letter.title in text
    for paragraph in letter.paragraphs:
        assert squeeze(paragraph) in text, paragraph
    # The blanks become ruled lines; the labels and the date are printed.
    assert "法定代表人（签字）：" in text
    assert "企业（盖章）：" in text
    assert "日期：2026年11月27日" in text


def test_letter_pdf_shows_only_masked_id_numbers(tmp_path):
    text = pdf_text(render_authorization_letter_pdf(authorization_letter(letter_data())), tmp_path)

    assert "4401**********1234" in text
    assert "4403**********567X" in text


def test_a_letter_with_long_names_keeps_its_signature_block_whole(tmp_path):
    long_name = "广东省广州市天河区珠江新城花城大道示例智慧城市数字科技研究院股份有限公司" * 3
    letter = authorization_letter(letter_data(enterprise_name=long_name, ca_name=long_name))

    data = render_authorization_letter_pdf(letter)

    text = pdf_text(data, tmp_path)
    assert squeeze(long_name) in text
    assert "日期：2026年11月27日" in text


# --- 发票 ------------------------------------------------------------------------------------


def test_invoice_pdf_is_complete_and_embeds_its_font():
    data = invoice()

    assert_complete_pdf_with_embedded_font(data)
    assert page_count(data) == 1


def test_invoice_pdf_has_parties_lines_totals_and_the_demo_note(tmp_path):
    text = pdf_text(invoice(), tmp_path)

    for expected in (
        "电子发票",
        "FP202611270001",
        "2026年11月27日",
        "YQ202611270001",
        "广州示例智慧科技有限公司",
        "91440101MA5XXXXX1A",
        "广东数字证书认证中心（演示）",
        "移动数字证书·标准套餐年3300.00900.00",
        "额外授权员工（2名×3年）人·年6100.00600.00",
        "¥1,500.00",
        "壹仟伍佰元整",
        "项目编号GZ-2026-118",
        DEMO_NOTE,
    ):
        assert expected in text, expected


def test_invoice_shows_the_sellers_tax_note_when_given(tmp_path):
    text = pdf_text(invoice(seller_tax_note="纳税人识别号：91440000000000000X"), tmp_path)

    assert "纳税人识别号：91440000000000000X" in text


def test_invoice_refuses_lines_that_do_not_add_up_to_the_total():
    with pytest.raises(InvoiceItemsMismatch):
        invoice(total_fen=1_400_00)


def test_rendering_without_a_cjk_font_says_how_to_install_one(monkeypatch):
    def missing() -> str:
        raise SealFontMissing("找不到中文字体")

    pdf._font.cache_clear()
    monkeypatch.setattr(pdf, "cjk_font_path", missing)
    try:
        with pytest.raises(SealFontMissing):
            invoice()
    finally:
        pdf._font.cache_clear()


# --- 人民币大写 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "capitals"),
    [
        (0, "零元整"),
        (1, "壹分"),
        (5, "伍分"),
        (50, "伍角"),
        (100, "壹元整"),
        (105, "壹元零伍分"),
        (150, "壹元伍角"),
        (1_000, "壹拾元整"),
        (1_005, "壹拾元零伍分"),
        (35_050, "叁佰伍拾元伍角"),
        (1_000_00, "壹仟元整"),
        (1_005_00, "壹仟零伍元整"),
        (1_050_00, "壹仟零伍拾元整"),
        (1_500_00, "壹仟伍佰元整"),
        (1_680_32, "壹仟陆佰捌拾元叁角贰分"),
        (10_000_00, "壹万元整"),
        (10_001_00, "壹万零壹元整"),
        (100_010_00, "壹拾万零壹拾元整"),
        (101_000_00, "壹拾万壹仟元整"),
        (1_000_000_00, "壹佰万元整"),
        (100_000_000_00, "壹亿元整"),
        (100_001_000_00, "壹亿零壹仟元整"),
        (120_034_567_89, "壹亿贰仟零叁万肆仟伍佰陆拾柒元捌角玖分"),
    ],
)
def test_amount_in_chinese_capitals(fen, capitals):
    assert amount_in_chinese_capitals(fen) == capitals


def test_negative_amounts_have_no_capitals():
    with pytest.raises(ValueError, match="negative"):
        amount_in_chinese_capitals(-1)


_DIGIT_VALUES = {ch: n for n, ch in enumerate("零壹贰叁肆伍陆柒捌玖")}
_PLACE_VALUES = {"拾": 10, "佰": 100, "仟": 1000}


def _read_below_10000(text: str) -> int:
    total, digit = 0, 0
    for ch in text:
        if ch in _PLACE_VALUES:
            total += digit * _PLACE_VALUES[ch]
            digit = 0
        else:
            digit = _DIGIT_VALUES[ch]
    return total + digit


def _read_below_100000000(text: str) -> int:
    high, _, low = text.rpartition("万")
    return _read_below_10000(high) * 10_000 + _read_below_10000(low)


def read_capitals(text: str) -> int:
    """Capitals → fen, for amounts below 10¹² yuan; ignores 零, which carries no value."""
    text = text.removesuffix("整").replace("零", "")
    yuan, _, rest = text.rpartition("元")
    high, _, low = yuan.rpartition("亿")
    fen = (_read_below_100000000(high) * 100_000_000 + _read_below_100000000(low)) * 100
    if "角" in rest:
        jiao, _, rest = rest.partition("角")
        fen += _DIGIT_VALUES[jiao] * 10
    if "分" in rest:
        fen += _DIGIT_VALUES[rest.removesuffix("分")]
    return fen


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=1, max_value=10**14 - 1))
def test_capitals_read_back_as_the_amount_and_write_zeros_once(fen):
    capitals = amount_in_chinese_capitals(fen)

    assert read_capitals(capitals) == fen
    assert "零零" not in capitals
    assert not capitals.startswith("零")
    assert not re.search("零[元万亿角整]|零$", capitals)
    assert capitals.endswith("整") == (fen % 100 == 0)


# --- 发票明细 ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_items_of_a_new_certificate_are_the_package_per_year(user, package):
    order = new_certificate_order(applicant=user, package=package, years=2)

    items = invoice_items_for(order)

    assert items == [
        InvoiceItem(f"移动数字证书 · {package.name}", 2, 300_00, 600_00, "年"),
    ]
    assert sum(item.amount_fen for item in items) == order.amount_fen


@pytest.mark.django_db
def test_items_of_a_new_certificate_with_extra_seats_add_seat_years(user, package):
    order = new_certificate_order(applicant=user, package=package, years=3, extra_seats=4)

    items = invoice_items_for(order)

    assert items[1] == InvoiceItem("额外授权员工（4名 × 3年）", 12, 100_00, 1_200_00, "人·年")
    assert sum(item.amount_fen for item in items) == order.amount_fen == 900_00 + 1_200_00


@pytest.mark.django_db
def test_items_of_a_seat_topup_are_seat_years(user, ca):
    order = seat_topup_order(applicant=user, ca=ca, seats=10, years=5)

    items = invoice_items_for(order)

    assert items == [
        InvoiceItem("移动数字证书新增授权员工（10名 × 5年）", 50, 100_00, 5_000_00, "人·年"),
    ]
    assert order.amount_fen == 5_000_00


@pytest.mark.django_db
def test_a_later_price_change_does_not_change_the_invoice(user, package):
    order = new_certificate_order(applicant=user, package=package, years=1)
    charged = order.amount_fen
    # The operator changed the price after the order was placed.
    package.price_per_year_fen = 350_00
    package.save()
    order.refresh_from_db()

    items = invoice_items_for(order)

    assert sum(item.amount_fen for item in items) == charged


@pytest.mark.django_db
def test_items_that_disagree_with_the_amount_charged_are_refused(user, package):
    order = new_certificate_order(applicant=user, package=package, years=1)
    order.amount_fen += 1

    with pytest.raises(InvoiceItemsMismatch, match=order.number):
        invoice_items_for(order)


@pytest.mark.django_db
def test_an_invoice_for_a_real_order_renders(user, package, tmp_path):
    order = new_certificate_order(applicant=user, package=package, years=2, extra_seats=1)
    order.invoice_title = "广州示例智慧科技有限公司"
    order.invoice_tax_id = "91440101MA5XXXXX1A"

    data = render_invoice_pdf(
        invoice_number="FP1",
        issued_at=ACCEPTED_AT,
        seller_name=order.ca.name,
        buyer_title=order.invoice_title,
        buyer_tax_id=order.invoice_tax_id,
        items=invoice_items_for(order),
        total_fen=order.amount_fen,
        remark=order.invoice_remark,
        order_number=order.number,
    )

    text = pdf_text(data, tmp_path)
    assert "¥800.00" in text
    assert "捌佰元整" in text
