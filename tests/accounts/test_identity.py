"""The identity number and name checks of 实名认证 (accounts/identity.py)."""

import dataclasses
import re
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from stdnum.cn import ric

from accounts.identity import (
    IdNumber,
    mask_id_number,
    validate_chinese_name,
    validate_id_number,
)

TODAY = date(2026, 5, 20)
FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def check_digit(body: str) -> str:
    """GB 11643 straight from its definition: with the weight of position i (counted from the
    right, the check character being position 1) 2**(i-1), the weighted sum of all 18
    characters is 1 mod 11, and a value of 10 is written X."""
    total = sum(int(digit) * 2 ** (17 - index) for index, digit in enumerate(body))
    return next("0123456789X"[c] for c in range(11) if (total + c) % 11 == 1)


def make_id(region: str = "440106", birth: str = "19900101", sequence: str = "001") -> str:
    body = region + birth + sequence
    assert len(body) == 17
    return body + check_digit(body)


def rejection(value: str, today: date = TODAY) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        validate_id_number(value, today=today)
    return excinfo.value


# --- the test helper itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "44010619900101001",
        "11010519491231002",  # check character X
        "36042619910101007",  # stdnum's own example, 360426199101010071
        "31011519850312003",
        "65010220080520999",
        "00000000000000000",
    ],
)
def test_check_digit_helper_agrees_with_stdnum(body):
    assert check_digit(body) == ric.calc_check_digit(body + "?")


def test_check_digit_helper_reproduces_a_published_number():
    assert make_id("360426", "19910101", "007") == "360426199101010071"


# --- valid numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "birth", "sequence", "birth_date", "gender"),
    [
        ("440106", "19900101", "001", date(1990, 1, 1), "男"),
        ("440106", "19900101", "002", date(1990, 1, 1), "女"),
        ("310115", "19850312", "003", date(1985, 3, 12), "男"),
        ("110105", "19491231", "002", date(1949, 12, 31), "女"),
        ("650102", "20000229", "118", date(2000, 2, 29), "女"),
        ("460100", "20040229", "999", date(2004, 2, 29), "男"),
    ],
)
def test_valid_number_is_returned_with_what_it_encodes(region, birth, sequence, birth_date, gender):
    number = make_id(region, birth, sequence)

    result = validate_id_number(number, today=TODAY)

    assert result == IdNumber(
        number=number, birth_date=birth_date, gender=gender, region_code=region
    )


def test_gender_is_read_from_the_17th_digit_not_the_check_digit():
    number = make_id("440106", "19900101", "010")  # 17th digit 0: a woman
    assert number[-1] != "0"

    assert validate_id_number(number, today=TODAY).gender == "女"


def test_check_digit_x_is_accepted():
    number = make_id("110105", "19491231", "002")
    assert number.endswith("X")

    assert validate_id_number(number, today=TODAY).number == number


def test_lowercase_x_is_normalised_to_upper_case():
    number = make_id("110105", "19491231", "002")

    result = validate_id_number(number.lower(), today=TODAY)

    assert result.number == "11010519491231002X"


@pytest.mark.parametrize(
    "typed",
    [
        "  440106199001010013  ",
        "440106 19900101 0013",
        "4401 0619 9001 0100 13",
        "440106\u300019900101\u30000013",  # ideographic space from a Chinese IME
        "440106199001010013\n",
        "\u200b440106199001010013",  # zero-width space pasted from a chat
        "440106199001010013".translate(FULL_WIDTH),
    ],
)
def test_spaces_and_full_width_digits_are_ignored(typed):
    assert make_id() == "440106199001010013"

    assert validate_id_number(typed, today=TODAY).number == "440106199001010013"


def test_full_width_lowercase_x_is_accepted():
    typed = make_id("110105", "19491231", "002").lower().translate(FULL_WIDTH)

    assert validate_id_number(typed, today=TODAY).number == "11010519491231002X"


def test_result_cannot_be_changed():
    result = validate_id_number(make_id(), today=TODAY)

    with pytest.raises(dataclasses.FrozenInstanceError):
        result.number = make_id(sequence="003")


def test_number_whose_county_is_younger_than_the_holder_is_accepted_though_stdnum_refuses_it():
    # 天河区 (440106) dates from 1985; people born earlier who live there carry 440106 numbers.
    number = make_id("440106", "19800101", "001")
    assert not ric.is_valid(number)

    assert validate_id_number(number, today=TODAY).birth_date == date(1980, 1, 1)


@pytest.mark.parametrize("region", ["810000", "820000", "830000"])
def test_residence_permit_numbers_of_hong_kong_macao_taiwan_residents_are_accepted(region):
    number = make_id(region, "19900101", "001")
    assert not ric.is_valid(number)

    assert validate_id_number(number, today=TODAY).region_code == region


# --- length and format ------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["", "   ", "\u3000"])
def test_empty_input_asks_for_the_number(typed):
    error = rejection(typed)

    assert error.code == "required"
    assert error.messages == ["请输入18位身份证号"]


@pytest.mark.parametrize(
    ("typed", "length"),
    [
        ("44010619900101001", 17),
        ("4401061990010100131", 19),
        ("4401061990010100X", 17),
        ("44010619900101", 14),
    ],
)
def test_wrong_length_asks_for_18_digits_and_says_how_many_were_typed(typed, length):
    error = rejection(typed)

    assert error.code == "length"
    assert error.messages == [f"请输入18位身份证号（当前为{length}位）"]


def test_old_15_digit_number_is_refused_with_a_request_for_the_18_digit_one():
    error = rejection("440106900101001")

    assert error.code == "old_15_digit"
    assert error.messages == ["15位旧身份证号已停用，请输入18位身份证号"]


@pytest.mark.parametrize(
    "typed",
    [
        "4401061990A1010013",  # a letter in the birth date
        "44010619900101X013",  # X anywhere but last
        "X40106199001010013",
        "44010619900101001Y",  # only X may be the check character
        "440106-19900101-01",
        "44010619900101001×",  # multiplication sign for X
        "٤٤٠١٠٦١٩٩٠٠١٠١٠٠١٣",  # Arabic-Indic digits: digits to Python, not to us
    ],
)
def test_anything_but_digits_and_a_final_x_is_refused(typed):
    assert len(typed) == 18

    error = rejection(typed)

    assert error.code == "format"
    assert error.messages == ["身份证号只能包含数字，最后一位可以是X"]


# --- check digit ------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["44010619900101001", "11010519491231002"])
def test_every_wrong_check_character_is_refused(body):
    right = check_digit(body)
    for wrong in (c for c in "0123456789X" if c != right):
        error = rejection(body + wrong)

        assert error.code == "checksum"
        assert error.messages == ["身份证号校验位不正确，请核对"]


@pytest.mark.parametrize(
    "mistyped",
    [
        "440106199001010023",  # one digit of the sequence changed
        "440106199001100013",  # 0101 -> 0110, still a real date
        "440160199001010013",  # two neighbouring digits swapped
    ],
)
def test_typing_mistakes_elsewhere_show_as_a_wrong_check_digit(mistyped):
    assert make_id() == "440106199001010013"

    assert rejection(mistyped).code == "checksum"


# --- birth date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "birth",
    [
        "19990229",  # 1999 is not a leap year
        "19000229",  # nor is 1900: a century not divisible by 400
        "19900431",  # April has 30 days
        "19900631",
        "19900001",
        "19901301",
        "19900100",
        "19900132",
        "00000101",
    ],
)
def test_birth_date_that_is_not_a_calendar_date_is_refused(birth):
    error = rejection(make_id(birth=birth))

    assert error.code == "birth_date_invalid"
    assert error.messages == ["身份证号中的出生日期无效"]


@pytest.mark.parametrize("birth", ["20000229", "20040229", "19960229"])
def test_29_february_of_a_leap_year_is_a_real_birth_date(birth):
    assert validate_id_number(make_id(birth=birth), today=TODAY).birth_date.day == 29


@pytest.mark.parametrize("birth", ["20260521", "20270101", "29990101"])
def test_birth_date_in_the_future_is_refused(birth):
    error = rejection(make_id(birth=birth))

    assert error.code == "birth_date_future"
    assert error.messages == ["身份证号中的出生日期晚于今天，请核对"]


def test_born_more_than_120_years_ago_is_refused():
    error = rejection(make_id(birth="19050520"))  # 121 on 2026-05-20

    assert error.code == "birth_date_too_old"
    assert error.messages == ["身份证号中的出生日期早于120年前，请核对"]


def test_born_120_years_ago_is_accepted():
    assert validate_id_number(make_id(birth="19050521"), today=TODAY).birth_date == date(
        1905, 5, 21
    )


# --- adult ------------------------------------------------------------------------------------


def test_eighteenth_birthday_today_counts_as_adult():
    result = validate_id_number(make_id(birth="20080520"), today=date(2026, 5, 20))

    assert result.birth_date == date(2008, 5, 20)


@pytest.mark.parametrize(
    ("birth", "today"),
    [
        ("20080521", date(2026, 5, 20)),  # one day short of 18
        ("20081231", date(2026, 5, 20)),
        ("20080520", date(2026, 5, 19)),
        ("20260520", date(2026, 5, 20)),  # born today
    ],
)
def test_under_18_is_refused(birth, today):
    error = rejection(make_id(birth=birth), today=today)

    assert error.code == "under_18"
    assert error.messages == ["未满18周岁不能办理"]


def test_born_on_29_february_becomes_adult_on_1_march_of_a_common_year():
    number = make_id(birth="20080229")

    assert rejection(number, today=date(2026, 2, 28)).code == "under_18"
    assert validate_id_number(number, today=date(2026, 3, 1)).birth_date == date(2008, 2, 29)


def test_wrong_check_digit_is_reported_before_age():
    # A mistyped number says nothing reliable about the holder's age.
    number = make_id(birth="20100101")
    wrong = number[:-1] + ("1" if number[-1] != "1" else "2")

    assert rejection(wrong).code == "checksum"


# --- region -----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["000000", "990000", "100000", "200000", "390101", "840000"])
def test_number_outside_any_province_is_refused(region):
    error = rejection(make_id(region=region))

    assert error.code == "region"
    assert error.messages == ["身份证号前两位不是有效的省份代码，请核对"]


@pytest.mark.parametrize(
    "region", ["110101", "150102", "230102", "370102", "440305", "460201", "500101", "650102"]
)
def test_every_kind_of_province_code_is_accepted(region):
    assert validate_id_number(make_id(region=region), today=TODAY).region_code == region


# --- masking ----------------------------------------------------------------------------------


def test_mask_keeps_the_first_four_and_last_four_characters():
    assert mask_id_number("440106199001010013") == "4401**********0013"


def test_mask_has_the_shape_shown_in_the_product_spec():
    masked = mask_id_number(make_id("110105", "19491231", "002"))

    assert re.fullmatch(r"[0-9]{4}\*{10}[0-9]{3}[0-9X]", masked)
    assert masked == "1101**********002X"


def test_mask_normalises_before_masking():
    assert mask_id_number(" 11010519491231002x ") == "1101**********002X"


@pytest.mark.parametrize("number", ["", "4401", "440106900101001", "4401061990010100131"])
def test_mask_refuses_anything_but_18_characters_rather_than_show_too_much(number):
    with pytest.raises(ValueError, match="18-character"):
        mask_id_number(number)


# --- name -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "张三",
        "欧阳娜娜",
        "阿沛·阿旺晋美",
        "买买提·艾力",
        "𠮷野",  # U+20BB7, outside the basic block
        "㐀明",  # U+3400, extension A
        "爨" * 30,
    ],
)
def test_valid_name_is_returned_unchanged(name):
    assert validate_chinese_name(name) == name


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        (" 张三 ", "张三"),
        ("张 三", "张三"),
        ("张\u3000三", "张三"),
        ("阿沛•阿旺晋美", "阿沛·阿旺晋美"),  # bullet
        ("阿沛・阿旺晋美", "阿沛·阿旺晋美"),  # katakana middle dot
        ("阿沛.阿旺晋美", "阿沛·阿旺晋美"),
        ("阿沛．阿旺晋美", "阿沛·阿旺晋美"),  # full-width full stop
        ("阿沛 · 阿旺晋美", "阿沛·阿旺晋美"),
        ("⼈民", "人民"),  # Kangxi radical 人 (U+2F08) looks the same and becomes 人
    ],
)
def test_name_is_normalised(typed, name):
    assert validate_chinese_name(typed) == name


@pytest.mark.parametrize("typed", ["", "   "])
def test_empty_name_asks_for_it(typed):
    with pytest.raises(ValidationError) as excinfo:
        validate_chinese_name(typed)

    assert excinfo.value.code == "required"
    assert excinfo.value.messages == ["请输入姓名"]


@pytest.mark.parametrize(
    "typed",
    ["张3", "张三2", "Zhang三", "张ｓａｎ", "张三!", "张三😀", "김철수", "やまだ", "张-三", "张㇀"],
)
def test_name_with_anything_but_chinese_characters_and_the_dot_is_refused(typed):
    with pytest.raises(ValidationError) as excinfo:
        validate_chinese_name(typed)

    assert excinfo.value.code == "characters"
    assert excinfo.value.messages == ["姓名只能包含汉字和间隔号“·”"]


@pytest.mark.parametrize("typed", ["·阿旺晋美", "阿沛·", "阿沛··阿旺晋美", "·"])
def test_dot_only_between_parts_of_the_name(typed):
    with pytest.raises(ValidationError) as excinfo:
        validate_chinese_name(typed)

    assert excinfo.value.code == "dot"
    assert excinfo.value.messages == ["间隔号“·”只能出现在姓名中间，且不能连用"]


@pytest.mark.parametrize("typed", ["张", "爨" * 31, "阿" + "·阿旺" * 10])
def test_name_of_wrong_length_is_refused(typed):
    with pytest.raises(ValidationError) as excinfo:
        validate_chinese_name(typed)

    assert excinfo.value.code == "length"
    assert excinfo.value.messages == ["姓名应为2到30个字"]
