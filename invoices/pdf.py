"""The PDFs a customer keeps: the accepted 业务协议书, the 业务授权书 to sign, and the invoice.

reportlab's platypus lays them out on A4. Chinese text is set in the TrueType font seals use
(certificates.seals.cjk_font_path), embedded as a subset, so every viewer shows the same glyphs;
reportlab's built-in STSong-Light would cost no font file but is not embedded and viewers
substitute whatever they have (BASELINES.md). Loading the font takes 0.1–0.4 s, once per process.

Money is integer fen throughout; figures use the `yuan` template filter's format.
"""

import datetime
import functools
import io
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from authorization.letter import Letter
from certificates.seals import cjk_font_path
from orders.pricing import SEAT_PRICE_PER_YEAR_FEN
from orders.states import OrderKind
from yueqiqian.templatetags.yq import yuan

FONT = "YQ-CJK"
SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
PRODUCT_NAME = "粤企签"
DEMO_NOTE = "本发票为粤企签电子发票（演示）"

INK = colors.HexColor("#1F2328")
MUTED = colors.HexColor("#656D76")
RULE = colors.HexColor("#9AA1A9")
SHADE = colors.HexColor("#F3F4F6")
# Invoice frames in the brown of a paper fapiao, so the document reads as an invoice at a glance.
INVOICE_INK = colors.HexColor("#8A4B2A")
INVOICE_SHADE = colors.HexColor("#FBF6F2")

MARGIN_X = 22 * mm
MARGIN_TOP = 20 * mm
MARGIN_BOTTOM = 22 * mm


class InvoiceItemsMismatch(ValueError):
    """The invoice lines do not add up to what was charged."""


@dataclass(frozen=True)
class InvoiceItem:
    name: str
    quantity: int
    unit_price_fen: int
    amount_fen: int
    unit: str = ""


# --- font and styles -------------------------------------------------------------------------


@functools.cache
def _font() -> str:
    """Register the CJK font with reportlab once per process; its name for styles."""
    # subfontIndex: the first face of a .ttc collection; ignored for a plain .ttf.
    pdfmetrics.registerFont(TTFont(FONT, cjk_font_path(), subfontIndex=0))
    # The font has no bold or italic face: <b> in a paragraph keeps the regular one.
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT, italic=FONT, boldItalic=FONT)
    return FONT


def _style(
    name: str, *, size: float = 10.5, leading: float | None = None, **kw: Any
) -> ParagraphStyle:
    return ParagraphStyle(
        name,
        fontName=_font(),
        fontSize=size,
        leading=leading if leading is not None else size * 1.6,
        textColor=kw.pop("textColor", INK),
        # Chinese lines break between any two characters, not only at spaces.
        wordWrap="CJK",
        **kw,
    )


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: markup characters in user data are shown, not parsed."""
    return Paragraph(escape(text, quote=False).replace("\n", "<br/>"), style)


def _shanghai(moment: datetime.datetime) -> datetime.datetime:
    if moment.tzinfo is None:
        raise ValueError("expected a timezone-aware datetime")
    return moment.astimezone(SHANGHAI)


# --- page furniture --------------------------------------------------------------------------


class _NumberedCanvas(canvas.Canvas):
    """Draws the footer on every page once the page count is known: "第 2 页 / 共 3 页".

    platypus only knows the total after laying out the last page, so pages are held until save.
    """

    def __init__(self, *args: Any, footer: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._held_pages: list[dict] = []

    def showPage(self) -> None:
        self._held_pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._held_pages)
        for page in self._held_pages:
            self.__dict__.update(page)
            self._draw_footer(total)
            super().showPage()
        super().save()

    def _draw_footer(self, total: int) -> None:
        width, _ = self._pagesize
        y = MARGIN_BOTTOM - 10 * mm
        self.saveState()
        self.setStrokeColor(RULE)
        self.setLineWidth(0.4)
        self.line(MARGIN_X, y + 4 * mm, width - MARGIN_X, y + 4 * mm)
        self.setFont(_font(), 8)
        self.setFillColor(MUTED)
        self.drawString(MARGIN_X, y, self._footer)
        if total > 1:
            self.drawRightString(width - MARGIN_X, y, f"第 {self._pageNumber} 页 / 共 {total} 页")
        self.restoreState()


def _build(
    story: list[Flowable],
    *,
    title: str,
    subject: str,
    footer: str,
    page_compression: int | None = None,
) -> bytes:
    """Lay ``story`` out on A4 and return the PDF.

    ``page_compression=0`` leaves content streams readable, for debugging a layout.
    """
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        subject=subject,
        author=PRODUCT_NAME,
        creator=PRODUCT_NAME,
        lang="zh-CN",
        displayDocTitle=True,
        pageCompression=page_compression,
    )
    canvasmaker: Callable[..., canvas.Canvas] = functools.partial(_NumberedCanvas, footer=footer)
    doc.build(story, canvasmaker=canvasmaker)
    return buffer.getvalue()


def _record_table(rows: Sequence[tuple[str, str]], *, width: float, label_width: float) -> Table:
    """A boxed two-column table of labels and values."""
    label = _style("record-label", size=9.5, textColor=MUTED)
    value = _style("record-value", size=9.5)
    table = Table(
        [[_p(k, label), _p(v, value)] for k, v in rows],
        colWidths=[label_width, width - label_width],
    )
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.8, RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.4, RULE),
                ("BACKGROUND", (0, 0), (0, -1), SHADE),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ("LEFTPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return table


def _body_paragraphs(text: str, style: ParagraphStyle) -> list[Flowable]:
    """One paragraph per line of a text an operator typed; blank lines separate sections."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [_p(line.strip(), style) for line in lines if line.strip()]


# --- 业务协议书 ------------------------------------------------------------------------------


def render_agreement_pdf(
    *,
    ca_name: str,
    title: str,
    version: int,
    body: str,
    order_number: str,
    enterprise_name: str,
    accepted_at: datetime.datetime,
    ip_address: str | None,
    user_agent: str,
    page_compression: int | None = None,
) -> bytes:
    """The agreement as accepted, followed by the record of the acceptance (签署记录)."""
    width = A4[0] - 2 * MARGIN_X
    story: list[Flowable] = [
        _p(ca_name, _style("issuer", size=10, alignment=TA_CENTER, textColor=MUTED)),
        Spacer(1, 2 * mm),
        _p(title, _style("title", size=18, leading=26, alignment=TA_CENTER)),
        _p(f"版本 v{version}", _style("version", size=9, alignment=TA_CENTER, textColor=MUTED)),
        Spacer(1, 6 * mm),
    ]
    body_style = _style("body", size=10.5, leading=18, firstLineIndent=21, spaceAfter=4)
    story += _body_paragraphs(body, body_style)
    record = [
        ("协议版本", f"{title} v{version}"),
        ("企业名称", enterprise_name),
        ("订单号", order_number),
        ("同意时间", _shanghai(accepted_at).strftime("%Y-%m-%d %H:%M:%S") + "（北京时间）"),
        ("IP 地址", ip_address or "—"),
        ("浏览器", user_agent or "—"),
    ]
    story.append(
        KeepTogether(
            [
                Spacer(1, 8 * mm),
                _p("签署记录", _style("record-heading", size=12, leading=18, spaceAfter=3)),
                _p(
                    "申请人在粤企签平台阅读本协议并勾选同意，记录如下：",
                    _style("record-intro", size=9, textColor=MUTED, spaceAfter=4),
                ),
                _record_table(record, width=width, label_width=24 * mm),
            ]
        )
    )
    return _build(
        story,
        title=f"{title} v{version}",
        subject=f"{ca_name} · 订单 {order_number}",
        footer=f"{ca_name} · {title} v{version} · 订单号 {order_number}",
        page_compression=page_compression,
    )


# --- 业务授权书 ------------------------------------------------------------------------------


def _signature_block(lines: Sequence[str]) -> Table:
    """The signature lines in the right half: labels aligned on their colons, and a ruled line
    where the letter's text has a blank (＿＿＿), tall enough to sign and seal on."""
    label = _style("signature-label", size=12, leading=18, alignment=TA_RIGHT)
    value = _style("signature-value", size=12, leading=18)
    rows, ruled = [], []
    for index, line in enumerate(lines):
        head, colon, rest = line.partition("：")
        if colon and rest and not rest.strip("＿"):
            rows.append([_p(head + colon, label), ""])
            ruled.append(("LINEBELOW", (1, index), (1, index), 0.8, INK))
        else:
            rows.append([_p(head + colon, label), _p(rest, value)])
    table = Table(
        rows,
        colWidths=[54 * mm, 52 * mm],
        rowHeights=17 * mm,
        hAlign="RIGHT",
        style=[
            ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 2),
            *ruled,
        ],
    )
    return table


def render_authorization_letter_pdf(
    letter: Letter, *, page_compression: int | None = None
) -> bytes:
    """The letter laid out to be printed, signed by the legal representative and sealed."""
    story: list[Flowable] = [
        Spacer(1, 8 * mm),
        _p(letter.title, _style("title", size=22, leading=30, alignment=TA_CENTER)),
        Spacer(1, 10 * mm),
    ]
    salutation = _style("salutation", size=12, leading=22, spaceAfter=2)
    body = _style("body", size=12, leading=22, firstLineIndent=24, spaceAfter=2)
    first, *rest = letter.paragraphs
    story.append(_p(first, salutation))
    story += [_p(text, body) for text in rest]
    story.append(KeepTogether([Spacer(1, 12 * mm), _signature_block(letter.signature_lines)]))
    return _build(
        story,
        title=letter.title,
        subject=PRODUCT_NAME,
        footer=f"{PRODUCT_NAME} · {letter.title}",
        page_compression=page_compression,
    )


# --- 发票 ------------------------------------------------------------------------------------

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("仟", "佰", "拾", "")
_GROUPS = ("", "万", "亿", "万亿")


def _group_in_capitals(group: int) -> str:
    """1–9999 as in 壹仟零伍; leading zeros are the caller's business."""
    out: list[str] = []
    zero_pending = False
    for digit, place in zip(f"{group:04d}", _PLACES, strict=True):
        if digit == "0":
            zero_pending = bool(out)
            continue
        if zero_pending:
            out.append("零")
            zero_pending = False
        out.append(_DIGITS[int(digit)] + place)
    return "".join(out)


def amount_in_chinese_capitals(fen: int) -> str:
    """Integer fen → 人民币大写, as written on invoices and cheques.

    One 零 stands for any run of zeros between non-zero digits (壹仟零伍元整, 壹拾万零壹拾元整),
    none at the end of a unit (壹万元整); 整 follows an amount without fen. 10 is 壹拾, as
    financial writing requires, not 拾.
    """
    if fen < 0:
        raise ValueError("amount must not be negative")
    yuan_part, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    groups: list[int] = []
    rest = yuan_part
    while rest:
        rest, group = divmod(rest, 10_000)
        groups.append(group)
    if len(groups) > len(_GROUPS):
        raise ValueError("amount too large")

    out: list[str] = []
    zero_pending = False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            zero_pending = bool(out)
            continue
        # A zero between groups (1,0000,1000) or at the head of one (10,0010) is read aloud.
        if out and (zero_pending or group < 1000):
            out.append("零")
        out.append(_group_in_capitals(group) + _GROUPS[index])
        zero_pending = False
    if out:
        out.append("元")
    if jiao:
        out.append(_DIGITS[jiao] + "角")
    if fen_digit:
        if out and not jiao:
            out.append("零")
        out.append(_DIGITS[fen_digit] + "分")
    if not out:
        return "零元整"
    if not cents:
        out.append("整")
    return "".join(out)


def invoice_items_for(order: Any) -> list[InvoiceItem]:
    """The invoice lines of an order, at the prices it was priced with.

    Raises InvoiceItemsMismatch when they do not add up to ``order.amount_fen``: an invoice must
    never disagree with the payment. The package's price is the one stored on the order when
    it was priced, so an operator changing the price later changes no invoice.
    """
    years = order.years
    if order.kind == OrderKind.SEAT_TOPUP:
        seat_years = order.extra_seats * years
        items = [
            InvoiceItem(
                name=f"移动数字证书新增授权员工（{order.extra_seats}名 × {years}年）",
                quantity=seat_years,
                unit_price_fen=SEAT_PRICE_PER_YEAR_FEN,
                amount_fen=seat_years * SEAT_PRICE_PER_YEAR_FEN,
                unit="人·年",
            )
        ]
    else:
        package = order.package
        items = [
            InvoiceItem(
                name=f"移动数字证书 · {package.name}",
                quantity=years,
                unit_price_fen=order.package_price_per_year_fen,
                amount_fen=order.package_price_per_year_fen * years,
                unit="年",
            )
        ]
        if order.extra_seats:
            seat_years = order.extra_seats * years
            items.append(
                InvoiceItem(
                    name=f"额外授权员工（{order.extra_seats}名 × {years}年）",
                    quantity=seat_years,
                    unit_price_fen=SEAT_PRICE_PER_YEAR_FEN,
                    amount_fen=seat_years * SEAT_PRICE_PER_YEAR_FEN,
                    unit="人·年",
                )
            )
    total = sum(item.amount_fen for item in items)
    if total != order.amount_fen:
        raise InvoiceItemsMismatch(
            f"订单 {order.number} 的发票明细合计 {yuan(total)} 元与订单金额 "
            f"{yuan(order.amount_fen)} 元不符"
        )
    return items


def render_invoice_pdf(
    *,
    invoice_number: str,
    issued_at: datetime.datetime,
    seller_name: str,
    buyer_title: str,
    buyer_tax_id: str,
    items: Sequence[InvoiceItem],
    total_fen: int,
    remark: str,
    order_number: str,
    seller_tax_note: str = "",
    page_compression: int | None = None,
) -> bytes:
    """The platform's invoice for a paid order. Not a tax-authority fapiao, and it says so."""
    if sum(item.amount_fen for item in items) != total_fen:
        raise InvoiceItemsMismatch("发票明细合计与发票金额不符")
    width = A4[0] - 2 * MARGIN_X
    small = _style("small", size=9, leading=13)
    small_muted = _style("small-muted", size=9, leading=13, textColor=MUTED)
    label = _style("label", size=9, leading=12, alignment=TA_CENTER, textColor=INVOICE_INK)
    cell = _style("cell", size=9.5, leading=13)
    cell_right = _style("cell-right", size=9.5, leading=13, alignment=TA_RIGHT)
    head = _style("head", size=9.5, leading=13, alignment=TA_CENTER, textColor=INVOICE_INK)

    issued = _shanghai(issued_at)
    meta = Table(
        [
            [_p("发票号码", small_muted), _p(invoice_number, small)],
            [_p("开票日期", small_muted), _p(f"{issued:%Y年%m月%d日}", small)],
            [_p("订单号", small_muted), _p(order_number, small)],
        ],
        colWidths=[16 * mm, 42 * mm],
        style=[("LEFTPADDING", (0, 0), (-1, -1), 0), ("TOPPADDING", (0, 0), (-1, -1), 0)],
    )
    header = Table(
        [
            [
                "",
                [
                    _p(
                        "电子发票",
                        _style(
                            "title", size=20, leading=26, alignment=TA_CENTER, textColor=INVOICE_INK
                        ),
                    ),
                    _p(
                        f"（{PRODUCT_NAME} · 演示）",
                        _style("subtitle", size=9, alignment=TA_CENTER, textColor=INVOICE_INK),
                    ),
                ],
                meta,
            ]
        ],
        colWidths=[58 * mm, width - 116 * mm, 58 * mm],
        style=[
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LINEBELOW", (1, 0), (1, 0), 1.2, INVOICE_INK),
        ],
    )

    def party(rows: list[tuple[str, str]]) -> list[Paragraph]:
        return [_p(f"{k}：{v}", cell) for k, v in rows if v]

    seller_rows = [("名称", seller_name)]
    if seller_tax_note:
        seller_rows.append(("说明", seller_tax_note))
    parties = Table(
        [
            [
                _p("购\n买\n方", label),
                party([("名称", buyer_title), ("统一社会信用代码/纳税人识别号", buyer_tax_id)]),
                _p("销\n售\n方", label),
                party(seller_rows),
            ]
        ],
        colWidths=[9 * mm, (width - 18 * mm) / 2, 9 * mm, (width - 18 * mm) / 2],
        style=[
            ("BOX", (0, 0), (-1, -1), 1, INVOICE_INK),
            ("LINEAFTER", (0, 0), (2, 0), 0.6, INVOICE_INK),
            ("BACKGROUND", (0, 0), (0, 0), INVOICE_SHADE),
            ("BACKGROUND", (2, 0), (2, 0), INVOICE_SHADE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 6),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 7),
        ],
    )

    col = [width - 96 * mm, 16 * mm, 18 * mm, 30 * mm, 32 * mm]
    rows: list[list[Any]] = [
        [_p(h, head) for h in ("项目名称", "单位", "数量", "单价（元）", "金额（元）")]
    ]
    rows += [
        [
            _p(item.name, cell),
            _p(item.unit, _style("unit", size=9.5, leading=13, alignment=TA_CENTER)),
            _p(str(item.quantity), cell_right),
            _p(yuan(item.unit_price_fen), cell_right),
            _p(yuan(item.amount_fen), cell_right),
        ]
        for item in items
    ]
    total_row = len(rows)
    rows.append([_p("合　　计", head), "", "", "", _p(f"¥{yuan(total_fen)}", cell_right)])
    capitals_row = len(rows)
    rows.append(
        [
            _p("价税合计（大写）", head),
            _p(amount_in_chinese_capitals(total_fen), cell),
            "",
            _p(
                "（小写）",
                _style("lower", size=9.5, leading=13, alignment=TA_RIGHT, textColor=INVOICE_INK),
            ),
            _p(f"¥{yuan(total_fen)}", cell_right),
        ]
    )
    remark_row = len(rows)
    rows.append([_p("备　　注", head), _p(remark or "", cell), "", "", ""])
    lines = Table(
        rows,
        colWidths=col,
        repeatRows=1,
        style=[
            ("BOX", (0, 0), (-1, -1), 1, INVOICE_INK),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, INVOICE_INK),
            ("BACKGROUND", (0, 0), (-1, 0), INVOICE_SHADE),
            ("LINEABOVE", (0, total_row), (-1, total_row), 0.6, INVOICE_INK),
            ("LINEABOVE", (0, capitals_row), (-1, -1), 0.6, INVOICE_INK),
            ("LINEAFTER", (0, total_row), (0, -1), 0.6, INVOICE_INK),
            ("SPAN", (1, total_row), (3, total_row)),
            ("SPAN", (1, capitals_row), (2, capitals_row)),
            ("SPAN", (1, remark_row), (-1, remark_row)),
            ("BACKGROUND", (0, total_row), (0, -1), INVOICE_SHADE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ("TOPPADDING", (0, remark_row), (-1, remark_row), 8),
            ("BOTTOMPADDING", (0, remark_row), (-1, remark_row), 14),
        ],
    )
    note = _p(
        f"{DEMO_NOTE}，由平台根据订单生成，不是税务机关监制的发票，不能用于报销抵扣。",
        _style("note", size=8.5, leading=13, textColor=MUTED, alignment=TA_LEFT),
    )
    story: list[Flowable] = [
        header,
        Spacer(1, 6 * mm),
        parties,
        Spacer(1, 3 * mm),
        lines,
        Spacer(1, 4 * mm),
        note,
    ]
    return _build(
        story,
        title=f"电子发票 {invoice_number}",
        subject=f"{seller_name} · 订单 {order_number}",
        footer=f"{PRODUCT_NAME} · 发票号码 {invoice_number}",
        page_compression=page_compression,
    )
