"""The unified social credit code check and the invoice 备注 rule (orders/enterprise.py)."""

import dataclasses
import string

import pytest
from django.core.exceptions import ValidationError
from stdnum.cn import uscc

from orders.enterprise import CreditCode, invoice_remark_required, validate_credit_code

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
FULL_WIDTH = {ord(c): ord(c) + 0xFEE0 for c in string.ascii_letters + string.digits}

# Published codes whose check character stdnum confirms (a made-up code passes 1 time in 31).
HUAWEI = "914403001922038216"  # 华为技术有限公司, Shenzhen
FUZHOU_EXAMPLE = "91350100M000100Y43"  # util-helpers' example, a letter inside the body
STDNUM_EXAMPLE = "91110000600037341L"  # stdnum's doctest, Beijing, check character L


def check_character(body: str) -> str:
    """GB 32100 from its definition: with weights 3**(i-1) mod 31 for positions 1–17, the
    weighted sum of the body plus the value of the check character is 0 mod 31."""
    total = sum(ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body))
    return next(ALPHABET[c] for c in range(31) if (total + c) % 31 == 0)


def make_code(body: str) -> str:
    assert len(body) == 17
    return body + check_character(body)


def rejection(value: str) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        validate_credit_code(value)
    return excinfo.value


GUANGZHOU = make_code("91440106MA59A1B2C")  # 天河区
SHANGHAI = make_code("91310115MA1K4AB3D")  # 浦东新区


# --- the test helper itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "91440106MA59A1B2C",
        "91310115MA1K4AB3D",
        "91440300MA5F00001",
        "12440000455858899",
        "00000000000000000",
        "YYYYYYYYYYYYYYYYY",
    ],
)
def test_check_character_helper_agrees_with_stdnum(body):
    assert check_character(body) == uscc.calc_check_digit(body)


@pytest.mark.parametrize("code", [HUAWEI, FUZHOU_EXAMPLE, STDNUM_EXAMPLE])
def test_check_character_helper_reproduces_published_codes(code):
    assert uscc.is_valid(code)

    assert make_code(code[:17]) == code


# --- valid codes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "division_code", "in_province"),
    [
        (GUANGZHOU, "440106", True),
        (HUAWEI, "440300", True),
        (make_code("12440000455858899"), "440000", True),  # 事业单位, provincial registration
        (SHANGHAI, "310115", False),
        (FUZHOU_EXAMPLE, "350100", False),
        (STDNUM_EXAMPLE, "110000", False),
        (make_code("91450100MA5KA0001"), "450100", False),  # Guangxi, also starts with 4
        (make_code("91100000MA0000001"), "100000", False),  # registered nationally
    ],
)
def test_valid_code_is_returned_with_its_division_and_province(code, division_code, in_province):
    assert uscc.is_valid(code)

    assert validate_credit_code(code) == CreditCode(
        code=code, division_code=division_code, in_province=in_province
    )


def test_in_province_is_read_from_characters_3_to_8_only():
    code = make_code("91310000MA44440X4")  # "44" in the body, registered in Shanghai
    assert code[:2] != "44"

    assert validate_credit_code(code).in_province is False


def test_check_character_can_be_a_letter():
    code = make_code("91440300MA5F00001")
    assert code[-1] == "A"

    assert validate_credit_code(code).code == code


@pytest.mark.parametrize(
    "body",
    [
        "N2440106MA5A00001",  # 村级集体经济组织, registered by agriculture
        "Y1440106MA5A00002",  # other registration authorities
        "A1110000MA0000001",  # army institution
    ],
)
def test_letter_registration_authorities_are_accepted_though_stdnum_refuses_them(body):
    code = make_code(body)
    assert not uscc.is_valid(code)

    assert validate_credit_code(code).code == code


@pytest.mark.parametrize(
    "typed",
    [
        GUANGZHOU.lower(),
        f"  {GUANGZHOU}  ",
        f"{GUANGZHOU[:2]} {GUANGZHOU[2:8]} {GUANGZHOU[8:]}",
        f"{GUANGZHOU[:9]}\u3000{GUANGZHOU[9:]}",
        f"{GUANGZHOU}\n",
        f"\u200b{GUANGZHOU}",
        GUANGZHOU.translate(FULL_WIDTH),
        GUANGZHOU.lower().translate(FULL_WIDTH),
    ],
)
def test_case_spaces_and_full_width_characters_are_normalised(typed):
    assert validate_credit_code(typed).code == GUANGZHOU


def test_result_cannot_be_changed():
    result = validate_credit_code(GUANGZHOU)

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.in_province = False


# --- length -----------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "   "])
def test_empty_input_asks_for_the_code(typed):
    error = rejection(typed)

    assert error.code == "required"
    assert error.messages == ["请输入18位统一社会信用代码"]


@pytest.mark.parametrize(
    ("typed", "length"),
    [
        (GUANGZHOU[:17], 17),
        (GUANGZHOU + "1", 19),
        ("440106MA59A1B2C", 15),
        ("MA59A1B2C", 9),  # the old organisation code
    ],
)
def test_wrong_length_asks_for_18_characters(typed, length):
    error = rejection(typed)

    assert error.code == "length"
    assert error.messages == [f"请输入18位统一社会信用代码（当前为{length}位）"]


# --- characters -------------------------------------------------------------------------------


@pytest.mark.parametrize("letter", ["I", "O", "Z", "S", "V"])
@pytest.mark.parametrize("position", [0, 1, 8, 12, 17])
def test_letters_the_standard_leaves_out_are_refused(letter, position):
    typed = GUANGZHOU[:position] + letter + GUANGZHOU[position + 1 :]

    error = rejection(typed)

    assert error.code == "characters"
    assert error.messages == [
        f"统一社会信用代码包含无效字符“{letter}”，代码中不使用字母I、O、Z、S、V"
    ]


def test_lowercase_excluded_letter_is_refused_too():
    typed = GUANGZHOU[:9] + "o" + GUANGZHOU[10:]

    assert rejection(typed).code == "characters"


def test_every_invalid_character_is_named_once():
    typed = "91440106MAO0OI-1B" + "中"

    assert rejection(typed).messages == [
        "统一社会信用代码包含无效字符“OI-中”，代码中不使用字母I、O、Z、S、V"
    ]


@pytest.mark.parametrize("body", ["914401A6MA59A1B2C", "91M40106MA59A1B2C", "9144010XMA59A1B2C"])
def test_letter_in_the_division_code_is_refused(body):
    code = make_code(body)

    error = rejection(code)

    assert error.code == "division"
    assert error.messages == ["统一社会信用代码第3到8位（登记机关行政区划码）应为数字"]


# --- check character --------------------------------------------------------------------------


@pytest.mark.parametrize("code", [GUANGZHOU, SHANGHAI, HUAWEI, FUZHOU_EXAMPLE])
def test_every_wrong_check_character_is_refused(code):
    for wrong in (c for c in ALPHABET if c != code[-1]):
        error = rejection(code[:17] + wrong)

        assert error.code == "checksum"
        assert error.messages == ["统一社会信用代码校验位不正确，请核对"]


@pytest.mark.parametrize(
    "mistyped",
    [
        "924403001922038216",  # 企业 typed as 个体工商户
        "914403001922038316",  # one digit of the body changed
        "914430001922038216",  # two neighbouring characters swapped
        "914403001922038261",  # the check character swapped with its neighbour
    ],
)
def test_typing_mistakes_anywhere_show_as_a_wrong_check_character(mistyped):
    assert mistyped != HUAWEI

    assert rejection(mistyped).code == "checksum"


# --- invoice 备注 -----------------------------------------------------------------------------

ENTERPRISE = "广州市某某科技（集团）有限公司"


@pytest.mark.parametrize(
    ("invoice_title", "taxpayer_id"),
    [
        (ENTERPRISE, GUANGZHOU),
        (f" {ENTERPRISE} ", GUANGZHOU),
        (ENTERPRISE, GUANGZHOU.lower()),
        (ENTERPRISE, f"{GUANGZHOU[:8]} {GUANGZHOU[8:]}"),
        ("广州市某某科技(集团)有限公司", GUANGZHOU),  # half-width brackets, the same title
    ],
)
def test_no_remark_when_the_invoice_goes_to_the_enterprise_itself(invoice_title, taxpayer_id):
    assert not invoice_remark_required(
        invoice_title=invoice_title,
        taxpayer_id=taxpayer_id,
        enterprise_name=ENTERPRISE,
        credit_code=GUANGZHOU,
    )


@pytest.mark.parametrize(
    ("invoice_title", "taxpayer_id"),
    [
        ("广州市某某科技有限公司", GUANGZHOU),  # another company of the group
        ("广州市某某科技（集团）有限公司分公司", GUANGZHOU),
        (ENTERPRISE, SHANGHAI),
        (ENTERPRISE, GUANGZHOU[:17]),
        (ENTERPRISE, ""),
        ("", GUANGZHOU),
        ("上海某某贸易有限公司", SHANGHAI),
    ],
)
def test_remark_required_when_title_or_taxpayer_id_is_not_the_enterprise(
    invoice_title, taxpayer_id
):
    assert invoice_remark_required(
        invoice_title=invoice_title,
        taxpayer_id=taxpayer_id,
        enterprise_name=ENTERPRISE,
        credit_code=GUANGZHOU,
    )


def test_remark_rule_normalises_the_enterprise_side_too():
    assert not invoice_remark_required(
        invoice_title=ENTERPRISE,
        taxpayer_id=GUANGZHOU,
        enterprise_name=f"{ENTERPRISE} ",
        credit_code=GUANGZHOU.lower(),
    )


def test_latin_letters_in_the_title_compare_without_case():
    assert not invoice_remark_required(
        invoice_title="tcl科技集团股份有限公司",
        taxpayer_id=GUANGZHOU,
        enterprise_name="TCL科技集团股份有限公司",
        credit_code=GUANGZHOU,
    )
