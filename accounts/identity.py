"""Checks for what a person types at 实名认证: the resident identity number and the name.

The identity number follows GB 11643-1999: six digits of address code, eight of birth date,
three of sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check character.

python-stdnum's ``stdnum.cn.ric.validate`` is deliberately *not* used as the gate. Besides the
format, check digit and a real calendar date it looks the full six-digit address code up in its
table of counties and refuses it when the county was created after the birth year. Numbers are
assigned where the hukou is registered when the number is issued, not where and when the person
was born, so that refuses real numbers: everyone born before 1985 with a 440106 (天河区) number,
before 1992 with 310115 (浦东新区) or 440306 (宝安区); it also refuses the 810000/820000/830000
numbers of 港澳台居民居住证. Only its check-digit arithmetic is reused here. It also knows
nothing of "today": it accepts birth dates in the future and any age.

The messages are shown on the form next to what the user typed, so each one says which part
of the number to look at.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from stdnum.cn import ric

ADULT_AGE = 18
# Nobody on the register is older; an older "birth date" is a typo in the year.
MAX_AGE = 120

# Province-level codes of GB/T 2260, the first two digits of the address code, plus 81, 82 and
# 83: the address codes 810000 / 820000 / 830000 that the public security bureau gives the
# 公民身份号码 on residence permits of Hong Kong, Macao and Taiwan residents.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",  # 北京 天津 河北 山西 内蒙古
        "21", "22", "23",  # 辽宁 吉林 黑龙江
        "31", "32", "33", "34", "35", "36", "37",  # 上海 江苏 浙江 安徽 福建 江西 山东
        "41", "42", "43", "44", "45", "46",  # 河南 湖北 湖南 广东 广西 海南
        "50", "51", "52", "53", "54",  # 重庆 四川 贵州 云南 西藏
        "61", "62", "63", "64", "65",  # 陕西 甘肃 青海 宁夏 新疆
        "71",  # 台湾
        "81", "82", "83",  # 香港 澳门, and 830000 for Taiwan residents' residence permits
    }
)  # fmt: skip

_ID_NUMBER_RE = re.compile(r"[0-9]{17}[0-9X]")
_OLD_ID_NUMBER_RE = re.compile(r"[0-9]{15}")

NAME_MIN_LENGTH = 2
NAME_MAX_LENGTH = 30
NAME_DOT = "·"  # U+00B7, the 间隔号 the public security bureau prints in transliterated names
# What phones and IMEs produce when people type that dot.
_NAME_DOT_LOOKALIKES = str.maketrans(dict.fromkeys("•‧・･∙⋅.．", NAME_DOT))


@dataclass(frozen=True)
class IdNumber:
    number: str  # 18 characters, check character upper case
    birth_date: date
    gender: str  # "男" or "女"
    region_code: str  # the six-digit address code


def _squeeze(value: str) -> str:
    """NFKC (full-width digits and letters typed on a Chinese IME become ASCII), without
    whitespace or invisible format characters (a zero-width space pasted from a chat)."""
    value = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in value if not ch.isspace() and unicodedata.category(ch) != "Cf")


def _age_on(birth_date: date, today: date) -> int:
    """Completed years on ``today``; the birthday itself counts. Someone born on 29 February
    completes a year on 1 March in a common year, the later of the two readings."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


def validate_id_number(value: str, *, today: date) -> IdNumber:
    """Check an 18-digit resident identity number for someone who must be an adult on ``today``.

    Spaces are ignored and a lower-case x is accepted. Raises ValidationError with a message
    for the form; returns the normalised number and what it encodes.
    """
    number = _squeeze(value or "").upper()
    if not number:
        raise ValidationError("请输入18位身份证号", code="required")
    if _OLD_ID_NUMBER_RE.fullmatch(number):
        raise ValidationError("15位旧身份证号已停用，请输入18位身份证号", code="old_15_digit")
    if len(number) != 18:
        raise ValidationError(
            "请输入18位身份证号（当前为%(length)d位）",
            code="length",
            params={"length": len(number)},
        )
    if not _ID_NUMBER_RE.fullmatch(number):
        raise ValidationError("身份证号只能包含数字，最后一位可以是X", code="format")
    if number[:2] not in PROVINCE_CODES:
        raise ValidationError("身份证号前两位不是有效的省份代码，请核对", code="region")
    try:
        birth_date = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise ValidationError("身份证号中的出生日期无效", code="birth_date_invalid") from None
    if birth_date > today:
        raise ValidationError("身份证号中的出生日期晚于今天，请核对", code="birth_date_future")
    if _age_on(birth_date, today) > MAX_AGE:
        raise ValidationError(
            "身份证号中的出生日期早于%(max_age)d年前，请核对",
            code="birth_date_too_old",
            params={"max_age": MAX_AGE},
        )
    # After the date checks: a mistyped digit in the date is better reported as a bad date,
    # which tells the user where to look, than as a bad check digit.
    if number[17] != ric.calc_check_digit(number):
        raise ValidationError("身份证号校验位不正确，请核对", code="checksum")
    if _age_on(birth_date, today) < ADULT_AGE:
        raise ValidationError("未满18周岁不能办理", code="under_18")
    return IdNumber(
        number=number,
        birth_date=birth_date,
        gender="男" if int(number[16]) % 2 else "女",
        region_code=number[:6],
    )


def mask_id_number(number: str) -> str:
    """The only form in which an identity number is shown after verification: 4401**********1234.

    Refuses anything but a normalised 18-character number rather than risk showing too much.
    """
    number = _squeeze(number).upper()
    if len(number) != 18:
        raise ValueError("mask_id_number expects an 18-character identity number")
    return f"{number[:4]}{'*' * 10}{number[-4:]}"


def _is_han(ch: str) -> bool:
    # The Unicode names cover every CJK extension Python knows, so rare characters in names
    # (生僻字 outside the basic block, e.g. 𠮷) pass too.
    return unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH-")


def validate_chinese_name(value: str) -> str:
    """Check a name as printed on the identity card: Chinese characters, and the 间隔号 "·"
    between the parts of a transliterated name. Returns it without spaces and with any
    look-alike dot replaced by "·"."""
    name = _squeeze(value or "").translate(_NAME_DOT_LOOKALIKES)
    if not name:
        raise ValidationError("请输入姓名", code="required")
    if not all(_is_han(ch) or ch == NAME_DOT for ch in name):
        raise ValidationError("姓名只能包含汉字和间隔号“·”", code="characters")
    if name.startswith(NAME_DOT) or name.endswith(NAME_DOT) or NAME_DOT * 2 in name:
        raise ValidationError("间隔号“·”只能出现在姓名中间，且不能连用", code="dot")
    if not NAME_MIN_LENGTH <= len(name) <= NAME_MAX_LENGTH:
        raise ValidationError(
            "姓名应为%(min)d到%(max)d个字",
            code="length",
            params={"min": NAME_MIN_LENGTH, "max": NAME_MAX_LENGTH},
        )
    return name
