"""The 业务授权书: the enterprise authorizes the applicant to apply for its certificate.

The wording lives here only. The legal representative's confirmation page shows it as HTML and
invoices.pdf prints it for signing (bank-transfer authorization), so both say the same thing.

Identity numbers appear masked only (4401**********1234): the letter is downloaded, e-mailed
and printed, and the full numbers are already known to the parties who need them.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from accounts.identity import mask_id_number
from yueqiqian.templatetags.yq import yuan

TITLE = "业务授权书"
# Full-width low lines: room for a handwritten signature and a seal on the printed letter.
BLANK = "＿" * 10


@dataclass(frozen=True)
class LetterData:
    enterprise_name: str
    credit_code: str
    legal_rep_name: str
    legal_rep_id_number_masked: str
    applicant_name: str
    applicant_id_number_masked: str
    applicant_phone: str
    ca_name: str
    package_name: str
    years: int
    extra_seats: int
    amount_fen: int
    order_number: str
    date: datetime.date


@dataclass(frozen=True)
class Letter:
    title: str
    paragraphs: list[str]
    signature_lines: list[str]


def letter_data_for(order: Any, *, applicant_identity: Any, today: datetime.date) -> LetterData:
    """What the letter says about ``order``; attribute access only, no queries of its own.

    ``order`` is a new-certificate Order (or anything with its fields, ``.ca.name`` and
    ``.package.name``); ``applicant_identity`` has ``real_name`` and ``id_number_masked``.
    Raises ValueError when the order has no CA, package or years yet, or when the legal
    representative's ID number is not a full 18-character number (mask_id_number refuses it
    rather than risk showing too much).
    """
    if order.ca is None or order.package is None or not order.years:
        raise ValueError("业务授权书需要订单已选择证书机构、证书套餐和有效期")
    return LetterData(
        enterprise_name=order.enterprise_name,
        credit_code=order.credit_code,
        legal_rep_name=order.legal_rep_name,
        legal_rep_id_number_masked=mask_id_number(order.legal_rep_id_number),
        applicant_name=applicant_identity.real_name,
        applicant_id_number_masked=applicant_identity.id_number_masked,
        applicant_phone=order.applicant_phone,
        ca_name=order.ca.name,
        package_name=order.package.name,
        years=order.years,
        extra_seats=order.extra_seats,
        amount_fen=order.amount_fen,
        order_number=order.number,
        date=today,
    )


def chinese_date(day: datetime.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def authorization_letter(data: LetterData) -> Letter:
    d = data
    paragraphs = [
        f"{d.ca_name}：",
        f"{d.enterprise_name}（统一社会信用代码：{d.credit_code}，以下简称“本企业”）"
        f"法定代表人{d.legal_rep_name}（身份证号：{d.legal_rep_id_number_masked}）"
        f"代表本企业，授权{d.applicant_name}（身份证号：{d.applicant_id_number_masked}，"
        f"手机号：{d.applicant_phone}）为本企业经办人，代表本企业通过粤企签平台向贵机构申请办理"
        "载有本企业机构公章和法定代表人章的移动数字证书。申请内容如下：",
        f"一、证书机构：{d.ca_name}；",
        f"二、证书套餐：{d.package_name}（含机构公章和法定代表人章）；",
        f"三、证书有效期：{d.years}年；",
        f"四、额外授权员工数量：{d.extra_seats}名；",
        f"五、费用合计：人民币{yuan(d.amount_fen)}元；",
        f"六、订单号：{d.order_number}。",
        "经办人在上述范围内代表本企业填写申请信息、确认业务协议、缴纳费用并办理相关手续，"
        "本企业对经办人在授权范围内的行为予以认可，并承担相应的法律责任。",
        "本企业保证所提交的企业信息、法定代表人信息、经办人信息及相关材料真实、准确、完整，"
        "并对其真实性负责；如有虚假，由本企业承担由此产生的全部法律责任。",
        "本授权书自法定代表人签字并加盖本企业公章之日起生效，至上述订单办理完成或取消之日止。",
        "特此授权。",
    ]
    signature_lines = [
        f"法定代表人（签字）：{BLANK}",
        f"企业（盖章）：{BLANK}",
        f"日期：{chinese_date(d.date)}",
    ]
    return Letter(title=TITLE, paragraphs=paragraphs, signature_lines=signature_lines)
