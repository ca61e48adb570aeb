"""The 业务授权书: what it says, and that it shows identity numbers only masked."""

import datetime
from types import SimpleNamespace

import pytest

from accounts.models import Identity
from authorization.letter import (
    Letter,
    LetterData,
    authorization_letter,
    letter_data_for,
)
from tests.factories import new_certificate_order

LEGAL_REP_ID = "440106198001011234"
APPLICANT_ID = "44030519900101567X"
TODAY = datetime.date(2026, 3, 7)


def an_order(**overrides):
    fields = {
        "number": "YQ202603070001",
        "ca": SimpleNamespace(name="广东数字证书认证中心（演示）"),
        "package": SimpleNamespace(name="标准套餐"),
        "years": 3,
        "extra_seats": 2,
        "amount_fen": 1_500_00,
        "enterprise_name": "广州示例智慧科技有限公司",
        "credit_code": "91440101MA5XXXXX1A",
        "legal_rep_name": "李四",
        "legal_rep_id_number": LEGAL_REP_ID,
        "applicant_phone": "13800138000",
    }
    return SimpleNamespace(**(fields | overrides))


def an_identity():
    return Identity(real_name="张三", id_number=APPLICANT_ID)


def letter_text(letter: Letter) -> str:
    return "\n".join([letter.title, *letter.paragraphs, *letter.signature_lines])


def test_letter_data_takes_the_order_and_the_applicants_verified_identity():
    data = letter_data_for(an_order(), applicant_identity=an_identity(), today=TODAY)

    assert data == LetterData(
        enterprise_name="广州示例智慧科技有限公司",
        credit_code="91440101MA5XXXXX1A",
        legal_rep_name="李四",
        legal_rep_id_number_masked="4401**********1234",
        applicant_name="张三",
        applicant_id_number_masked="4403**********567X",
        applicant_phone="13800138000",
        ca_name="广东数字证书认证中心（演示）",
        package_name="标准套餐",
        years=3,
        extra_seats=2,
        amount_fen=1_500_00,
        order_number="YQ202603070001",
        date=TODAY,
    )


def test_the_applicants_id_number_comes_from_the_identitys_masked_form():
    identity = SimpleNamespace(
        real_name="张三", id_number=APPLICANT_ID, id_number_masked="4403**********567X"
    )

    letter = authorization_letter(
        letter_data_for(an_order(), applicant_identity=identity, today=TODAY)
    )

    assert "4403**********567X" in letter_text(letter)
    assert APPLICANT_ID not in letter_text(letter)


def test_the_legal_representatives_id_number_is_masked():
    letter = authorization_letter(
        letter_data_for(an_order(), applicant_identity=an_identity(), today=TODAY)
    )

    assert "4401**********1234" in letter_text(letter)
    assert LEGAL_REP_ID not in letter_text(letter)


def test_a_legal_representative_id_number_that_is_not_18_characters_is_refused_not_shown():
    with pytest.raises(ValueError, match="18-character"):
        letter_data_for(
            an_order(legal_rep_id_number="4401061980"),
            applicant_identity=an_identity(),
            today=TODAY,
        )


def test_an_order_without_a_package_has_no_letter():
    with pytest.raises(ValueError, match="证书套餐"):
        letter_data_for(an_order(package=None), applicant_identity=an_identity(), today=TODAY)


def test_the_letter_names_the_enterprise_the_people_and_what_is_applied_for():
    letter = authorization_letter(
        letter_data_for(an_order(), applicant_identity=an_identity(), today=TODAY)
    )
    text = letter_text(letter)

    assert letter.title == "业务授权书"
    assert letter.paragraphs[0] == "广东数字证书认证中心（演示）："
    for expected in (
        "广州示例智慧科技有限公司",
        "统一社会信用代码：91440101MA5XXXXX1A",
        "法定代表人李四",
        "授权张三",
        "手机号：13800138000",
        "机构公章和法定代表人章",
        "移动数字证书",
        "证书套餐：标准套餐",
        "证书有效期：3年",
        "额外授权员工数量：2名",
        "人民币1,500.00元",
        "订单号：YQ202603070001",
        "真实",
        "特此授权。",
    ):
        assert expected in text, expected


def test_signature_lines_leave_room_to_sign_and_seal_and_carry_the_date():
    letter = authorization_letter(
        letter_data_for(an_order(), applicant_identity=an_identity(), today=TODAY)
    )

    signature, seal, date = letter.signature_lines
    assert signature.startswith("法定代表人（签字）：＿")
    assert seal.startswith("企业（盖章）：＿")
    # Chinese dates are not zero-padded.
    assert date == "日期：2026年3月7日"


def test_amounts_use_the_yuan_format_with_fen():
    letter = authorization_letter(
        letter_data_for(
            an_order(amount_fen=12_345_67), applicant_identity=an_identity(), today=TODAY
        )
    )

    assert "人民币12,345.67元" in letter_text(letter)


def test_a_real_order_is_read_without_queries(user, package, django_assert_num_queries):
    order = new_certificate_order(applicant=user, package=package, years=2, extra_seats=1)
    order.enterprise_name = "深圳示例有限公司"
    order.credit_code = "91440300MA5YYYYY2B"
    order.legal_rep_name = "王五"
    order.legal_rep_id_number = LEGAL_REP_ID
    order.applicant_phone = "13900139000"

    with django_assert_num_queries(0):
        data = letter_data_for(order, applicant_identity=an_identity(), today=TODAY)

    assert data.ca_name == package.ca.name
    assert data.package_name == package.name
    assert data.order_number == order.number
    assert data.amount_fen == order.amount_fen == 300_00 * 2 + 100_00 * 2
