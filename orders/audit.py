"""The order history as a tamper-evident hash chain.

Every OrderEvent stores `prev_hash` (the hash of the event written just before it, across all
orders) and `hash`, a SHA-256 over a canonical serialisation of its own fields and `prev_hash`.
Editing a stored event, deleting one, inserting one by hand or swapping two breaks the chain at
that point, and `manage.py audit_check` says where.

Why one global chain rather than one per order: a per-order chain cannot notice that an order's
whole history — or its last events — went missing, because nothing after them refers to them. In
the global chain every event but the newest is vouched for by its successor; the newest is
covered by the head hash `audit_check` prints (keep it elsewhere and pass `--expect-head`).
The price is that appends are serialised: `chain_lock()` takes one PostgreSQL transaction-level
advisory lock, held until the appending transaction commits, so the next writer reads the head
only after the previous one is visible (a row lock on the head would not do: a waiter would wake
up on the old head after a new one was inserted). Order events are a handful per order, so one
writer at a time costs nothing noticeable. SQLite serialises writers on its own.

The hash has no secret in it: it proves the history was not changed *after* it was written,
provided the head hash is kept somewhere the writer cannot rewrite.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING

from django.db import connection

if TYPE_CHECKING:
    from .models import OrderEvent

GENESIS = "0" * 64
# Any fixed 64-bit number that no other part of the project uses as an advisory lock key.
CHAIN_LOCK_KEY = 0x59510E7E


def canonical(
    *,
    order_id: int,
    actor_id: int | None,
    actor_label: str,
    from_status: str,
    to_status: str,
    reason: str,
    created_at,
    prev_hash: str,
) -> bytes:
    """The bytes an event's hash covers: sorted-key compact JSON, times in UTC to the µs."""
    return json.dumps(
        {
            "order": order_id,
            "actor": actor_id,
            "actor_label": actor_label,
            "from": from_status,
            "to": to_status,
            "reason": reason,
            "created_at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "prev_hash": prev_hash,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


def event_hash(event: OrderEvent, *, prev_hash: str | None = None) -> str:
    """The hex SHA-256 `event` should carry (with its own prev_hash unless one is given)."""
    return hashlib.sha256(
        canonical(
            order_id=event.order_id,
            actor_id=event.actor_id,
            actor_label=event.actor_label,
            from_status=event.from_status,
            to_status=event.to_status,
            reason=event.reason,
            created_at=event.created_at,
            prev_hash=event.prev_hash if prev_hash is None else prev_hash,
        )
    ).hexdigest()


def chain_lock() -> None:
    """Serialise appends until the current transaction ends (a no-op off PostgreSQL).

    Every order event on the site waits here, so take it as late as possible: the event should
    be the transaction's last write, leaving only its insert and the commit under the lock
    (orders.services.order_transition writes it after the status; issuance moves the order last).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def chain_head() -> str:
    """The newest event's hash: what the next event links to."""
    from .models import OrderEvent

    head = OrderEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    return head or GENESIS


@dataclass(frozen=True)
class Finding:
    kind: str  # edited | deleted | inserted | reordered | head
    event_id: int | None
    order_id: int | None
    detail: str

    def __str__(self) -> str:
        where = f"event {self.event_id} (order {self.order_id})" if self.event_id else "chain"
        return f"{self.kind}: {where}: {self.detail}"


@dataclass
class AuditReport:
    checked: int = 0
    head: str = GENESIS
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def chain_verify(*, expect_head: str | None = None, batch: int = 2000) -> AuditReport:
    """Recompute every hash and link, oldest first, and say what does not fit.

    - edited: the stored fields no longer hash to the stored hash;
    - inserted: a row sits between two events that link to each other directly;
    - reordered: the row links to an event that exists, but not to the one before it;
    - deleted: the row links to a hash no stored event has — an event is missing before it
      (or the event before it was rewritten together with its hash).
    """
    from .models import OrderEvent

    report = AuditReport()
    # The set of all stored hashes tells "linked elsewhere" (reordered) from "gone" (deleted).
    known = set(OrderEvent.objects.values_list("hash", flat=True))
    referenced = set(OrderEvent.objects.values_list("prev_hash", flat=True))
    before_previous: str | None = None  # the hash two rows back
    previous = GENESIS
    rows = OrderEvent.objects.order_by("id").only(
        "id",
        "order_id",
        "actor_id",
        "actor_label",
        "from_status",
        "to_status",
        "reason",
        "created_at",
        "prev_hash",
        "hash",
    )
    last_event = None
    for event in rows.iterator(chunk_size=batch):
        report.checked += 1
        if event_hash(event) != event.hash:
            report.findings.append(
                Finding("edited", event.pk, event.order_id, "fields do not match the stored hash")
            )
        if event.prev_hash != previous:
            if (
                before_previous is not None
                and event.prev_hash == before_previous
                and previous not in referenced
            ):
                # Its own odd link, if any, is part of the same finding.
                report.findings = [
                    f for f in report.findings if f.event_id != last_event.pk or f.kind == "edited"
                ]
                report.findings.append(
                    Finding(
                        "inserted",
                        last_event.pk,
                        last_event.order_id,
                        f"not part of the chain (event {event.pk} links past it)",
                    )
                )
            elif event.prev_hash in known:
                report.findings.append(
                    Finding(
                        "reordered",
                        event.pk,
                        event.order_id,
                        "links to an event that is not the one before it",
                    )
                )
            else:
                report.findings.append(
                    Finding(
                        "deleted",
                        event.pk,
                        event.order_id,
                        "the event it links to is missing (deleted, or rewritten with its hash)",
                    )
                )
        before_previous, previous = previous, event.hash
        last_event = event
    report.head = previous
    if expect_head and expect_head != previous:
        report.findings.append(
            Finding("head", None, None, f"head is {previous}, expected {expect_head}")
        )
    return report


# ---- The printable history (manage.py order_history_pdf, the admin's 导出订单历史 PDF) -----------

_PDF_FONT = "YQAuditCJK"


def _pdf_font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from certificates.seals import cjk_font_path

    if _PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(_PDF_FONT, cjk_font_path(), subfontIndex=0))
    return _PDF_FONT


def history_pdf(*, order, report: AuditReport) -> bytes:
    """The order's events, oldest first, each with its hash, and the chain's verdict."""
    import io
    from html import escape
    from zoneinfo import ZoneInfo

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = _pdf_font()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=13, wordWrap="CJK")
    small = ParagraphStyle("small", parent=body, fontSize=7, leading=9)
    title = ParagraphStyle("title", parent=body, fontSize=15, leading=22)

    def p(text: str, style=body) -> Paragraph:
        return Paragraph(escape(str(text), quote=False).replace("\n", "<br/>"), style)

    shanghai = ZoneInfo("Asia/Shanghai")
    events = list(order.events.select_related("actor").order_by("id"))
    mine = {e.pk for e in events}
    own_findings = [f for f in report.findings if f.event_id in mine]
    if report.ok:
        verdict = f"审计链校验通过（共 {report.checked} 条事件，链头 {report.head}）"
    else:
        verdict = (
            f"审计链校验未通过：共 {len(report.findings)} 处问题，"
            f"本订单 {len(own_findings)} 处（链头 {report.head}）"
        )
    rows = [[p("时间"), p("原状态"), p("新状态"), p("操作人"), p("原因"), p("哈希 / 前一哈希")]]
    for e in events:
        rows.append(
            [
                p(e.created_at.astimezone(shanghai).strftime("%Y-%m-%d %H:%M:%S")),
                p(e.get_from_status_display() if e.from_status else "—"),
                p(e.get_to_status_display()),
                p(e.actor_display),
                p(e.reason),
                p(f"{e.hash}\n← {e.prev_hash}", small),
            ]
        )
    table = Table(rows, colWidths=[32 * mm, 22 * mm, 22 * mm, 30 * mm, 70 * mm, 90 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story = [
        p(f"订单历史 {order.number}", title),
        p(f"企业：{order.enterprise_name or '—'}　状态：{order.get_status_display()}"),
        p(verdict),
        *[p(str(f), small) for f in own_findings],
        Spacer(1, 4 * mm),
        table,
    ]
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"订单历史 {order.number}",
        author="粤企签",
    ).build(story)
    return buffer.getvalue()
