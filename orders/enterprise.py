"""Checks for the enterprise part of an application: the unified social credit code and the
invoice rule that depends on it.

The code follows GB 32100-2015: 登记管理部门 (1 character), 机构类别 (1), the registering
authority's administrative division code (6 digits, GB/T 2260), the subject identifier (9,
the former organisation code) and a check character; 18 characters from the 31 digits and
capital letters without I, O, Z, S, V.

python-stdnum's ``stdnum.cn.uscc.validate`` checks length, alphabet and check character, but it
also requires the first two characters to be digits. GB 32100 lets registration authorities use
letters there and they do (N for agricultural collectives, e.g. N2 村级集体经济组织; Y for
"other"; A for army institutions), so that would refuse real codes. The table of authority and
category pairs keeps growing, so it is not enforced here either: the standard only says "a digit
or a letter", and any single mistyped character, those two included, already breaks the
mod-31 check. Only stdnum's check-character arithmetic is reused.
"""

import re
import unicodedata
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from stdnum.cn import uscc

GUANGDONG_DIVISION_PREFIX = "44"

_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
_DIVISION_RE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class CreditCode:
    code: str
    division_code: str  # characters 3–8: where the registering authority sits
    in_province: bool  # registered in Guangdong (省内)


def _squeeze(value: str) -> str:
    """NFKC (full-width characters typed on a Chinese IME become ASCII), without whitespace or
    invisible format characters (a zero-width space pasted from a chat)."""
    value = unicodedata.normalize("NFKC", value)
    return "".join(ch for ch in value if not ch.isspace() and unicodedata.category(ch) != "Cf")


def normalize_credit_code(value: str) -> str:
    return _squeeze(value or "").upper()


def validate_credit_code(value: str) -> CreditCode:
    """Check an 18-character unified social credit code. Spaces and case are ignored.

    Raises ValidationError with a message for the form; returns the normalised code and
    whether the enterprise is registered in Guangdong.
    """
    code = normalize_credit_code(value)
    if not code:
        raise ValidationError("请输入18位统一社会信用代码", code="required")
    if len(code) != 18:
        raise ValidationError(
            "请输入18位统一社会信用代码（当前为%(length)d位）",
            code="length",
            params={"length": len(code)},
        )
    invalid = "".join(dict.fromkeys(ch for ch in code if ch not in _ALPHABET))
    if invalid:
        raise ValidationError(
            "统一社会信用代码包含无效字符“%(chars)s”，代码中不使用字母I、O、Z、S、V",
            code="characters",
            params={"chars": invalid},
        )
    division_code = code[2:8]
    if not _DIVISION_RE.fullmatch(division_code):
        raise ValidationError(
            "统一社会信用代码第3到8位（登记机关行政区划码）应为数字", code="division"
        )
    if code[17] != uscc.calc_check_digit(code[:17]):
        raise ValidationError("统一社会信用代码校验位不正确，请核对", code="checksum")
    return CreditCode(
        code=code,
        division_code=division_code,
        in_province=division_code.startswith(GUANGDONG_DIVISION_PREFIX),
    )


def _normalize_name(value: str) -> str:
    # NFKC makes （集团） and (集团) the same title; spacing and Latin case don't make it another
    # party either.
    return _squeeze(value or "").casefold()


def invoice_remark_required(
    *, invoice_title: str, taxpayer_id: str, enterprise_name: str, credit_code: str
) -> bool:
    """发票信息 needs a 备注 when the invoice goes to someone other than the enterprise: a
    different title, or a 纳税人识别号 other than the enterprise's own credit code (an
    enterprise's taxpayer identification number *is* its unified social credit code)."""
    return _normalize_name(invoice_title) != _normalize_name(enterprise_name) or (
        normalize_credit_code(taxpayer_id) != normalize_credit_code(credit_code)
    )
