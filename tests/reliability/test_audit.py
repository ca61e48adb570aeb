"""The order history's hash chain: a clean chain verifies; an edited, deleted, inserted or
reordered event is found and named, and `audit_check` exits 1. On SQLite and on PostgreSQL
(phase one runs on both)."""

import hashlib
import io
import itertools

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from pypdf import PdfReader

from orders.audit import GENESIS, chain_verify, event_hash
from orders.models import OrderEvent
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import PackageFactory, UserFactory, new_certificate_order

pytestmark = pytest.mark.django_db

ORDERS = 3  # each: created → 待授权 → 已授权待支付 → 已取消 = 4 events, 12 in all


@pytest.fixture(autouse=True)
def _tampering_possible():
    """These tests play someone who edits the table behind the application's back. On
    PostgreSQL a trigger refuses that to the application (tests/reliability/test_audit_postgresql.py
    shows it); its owner can switch the trigger off, as this does inside the test's
    transaction (rolled back with it)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE orders_orderevent DISABLE TRIGGER USER")


@pytest.fixture
def history() -> list[OrderEvent]:
    package = PackageFactory()
    for _ in range(ORDERS):
        order = new_certificate_order(applicant=UserFactory(), package=package)
        for step in (
            OrderStatus.AWAITING_AUTHORIZATION,
            OrderStatus.AUTHORIZED,
            OrderStatus.CANCELLED,
        ):
            order = order_transition(order=order, to=step, actor_label="测试", reason=f"到 {step}")
    return list(OrderEvent.objects.order_by("id"))


def kinds(report) -> list[tuple[str, int | None]]:
    return [(f.kind, f.event_id) for f in report.findings]


def test_a_clean_chain_verifies_and_links_every_event_to_the_one_before(history, capsys):
    assert len(history) == ORDERS * 4
    assert history[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(history))
    assert all(event_hash(e) == e.hash for e in history)

    call_command("audit_check")

    assert f"audit chain OK: {len(history)} events checked; head {history[-1].hash}" in (
        capsys.readouterr().out
    )


def test_the_hash_covers_every_field_the_issue_names(history):
    event = history[5]
    for name, value in [
        ("order_id", history[0].order_id),
        ("actor_id", UserFactory().pk),
        ("actor_label", "别人"),
        ("from_status", OrderStatus.ISSUING),
        ("to_status", OrderStatus.COMPLETED),
        ("reason", event.reason + " "),
        ("created_at", event.created_at.replace(microsecond=(event.created_at.microsecond + 1))),
        ("prev_hash", "f" * 64),
    ]:
        original = getattr(event, name)
        setattr(event, name, value)
        assert event_hash(event) != event.hash, name
        setattr(event, name, original)
    assert event_hash(event) == event.hash


def test_an_edited_reason_is_found_at_that_event(history):
    target = history[6]
    OrderEvent.objects.filter(pk=target.pk).update(reason="悄悄改过的原因")

    assert kinds(chain_verify()) == [("edited", target.pk)]
    with pytest.raises(CommandError) as failed:
        call_command("audit_check")
    assert failed.value.returncode == 1


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(history):
    target = history[6]
    target.reason = "改过并重算哈希"
    OrderEvent.objects.filter(pk=target.pk).update(reason=target.reason, hash=event_hash(target))

    assert kinds(chain_verify()) == [("deleted", history[7].pk)]


def test_a_deleted_middle_event_is_found_at_its_successor(history):
    OrderEvent.objects.filter(pk=history[4].pk).delete()

    assert kinds(chain_verify()) == [("deleted", history[5].pk)]
    with pytest.raises(CommandError):
        call_command("audit_check")


def test_two_swapped_events_are_found_as_reordered(history):
    a, b = history[3], history[4]
    fields = ["order_id", "actor_id", "actor_label", "from_status", "to_status", "reason"]
    fields += ["created_at", "prev_hash", "hash"]
    # Swap through a placeholder: hash and prev_hash are unique.
    OrderEvent.objects.filter(pk=a.pk).update(hash="x" * 64, prev_hash="y" * 64)
    OrderEvent.objects.filter(pk=b.pk).update(**{f: getattr(a, f) for f in fields})
    OrderEvent.objects.filter(pk=a.pk).update(**{f: getattr(b, f) for f in fields})

    report = chain_verify()

    assert not report.ok
    assert {kind for kind, _ in kinds(report)} == {"reordered"}
    assert {event for _, event in kinds(report)} <= {a.pk, b.pk, history[5].pk}


def test_a_forged_event_inserted_in_the_middle_is_found(history):
    """The unique prev_hash refuses a second event linking to the same predecessor (see the
    fork test), so a hand-made row must make up its link; nothing links to it either."""
    middle = history[7]
    OrderEvent.objects.filter(pk__gt=middle.pk).delete()
    forged = OrderEvent(
        order_id=middle.order_id,
        actor_label="伪造",
        from_status=OrderStatus.AUTHORIZED,
        to_status=OrderStatus.ISSUING,
        reason="支付成功",
        created_at=middle.created_at,
        prev_hash=hashlib.sha256(b"made up").hexdigest(),
    )
    forged.hash = event_hash(forged)
    forged.save(force_insert=True)
    # The rest of the history goes back after it, unchanged.
    for event in history[8:]:
        event.pk = None
        event.save(force_insert=True)

    assert kinds(chain_verify()) == [("inserted", forged.pk)]


def test_removing_the_newest_events_is_found_only_against_a_kept_head(history):
    kept_head = history[-1].hash
    OrderEvent.objects.filter(pk__in=[e.pk for e in history[-2:]]).delete()

    assert chain_verify().ok  # nothing links to the newest event: hence --expect-head
    report = chain_verify(expect_head=kept_head)
    assert kinds(report) == [("head", None)]
    with pytest.raises(CommandError):
        call_command("audit_check", expect_head=kept_head)


def test_the_chain_cannot_fork(history):
    from django.db import IntegrityError, transaction

    twin = OrderEvent(
        order_id=history[0].order_id,
        to_status=OrderStatus.CANCELLED,
        created_at=history[-1].created_at,
        prev_hash=history[3].prev_hash,
    )
    twin.hash = hashlib.sha256(b"twin").hexdigest()
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save(force_insert=True)


def test_the_history_pdf_lists_the_order_and_its_verdict(history, tmp_path):
    order = history[0].order
    out = tmp_path / "history.pdf"

    call_command("order_history_pdf", order.number, output=str(out))

    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-")
    page = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert f"订单历史 {order.number}" in page
    assert "审计链校验通过" in page
    assert "创建订单" in page


def test_the_history_pdf_for_an_unknown_order_is_an_error():
    with pytest.raises(CommandError, match="no order"):
        call_command("order_history_pdf", "YQ0000")


# ---- order_transition writes the move and its event without savepoints of its own -------------


def test_a_lost_race_caught_inside_a_callers_transaction_leaves_it_usable():
    from django.db import transaction

    from orders.models import Order
    from orders.services import TransitionConflict

    package = PackageFactory()
    raced = new_certificate_order(applicant=UserFactory(), package=package)
    other = new_certificate_order(applicant=UserFactory(), package=package)
    stale = Order.objects.get(pk=raced.pk)
    order_transition(order=raced, to=OrderStatus.AWAITING_AUTHORIZATION, actor_label="先到")

    with transaction.atomic():
        with pytest.raises(TransitionConflict):
            order_transition(order=stale, to=OrderStatus.CANCELLED, actor_label="后到")
        order_transition(order=other, to=OrderStatus.CANCELLED, actor_label="同一事务")

    assert Order.objects.get(pk=raced.pk).status == OrderStatus.AWAITING_AUTHORIZATION
    assert Order.objects.get(pk=other.pk).status == OrderStatus.CANCELLED
    assert not OrderEvent.objects.filter(order=raced, actor_label="后到").exists()
    assert chain_verify().ok


@pytest.mark.django_db(transaction=True)  # the move's own transaction, as in a request or task
def test_a_move_whose_event_cannot_be_written_is_not_made(monkeypatch):
    from orders import audit
    from orders.models import Order

    order = new_certificate_order(applicant=UserFactory(), package=PackageFactory())
    events = OrderEvent.objects.count()

    def broken(*args, **kwargs):
        raise RuntimeError("hashing failed")

    monkeypatch.setattr(audit, "event_hash", broken)
    with pytest.raises(RuntimeError):
        order_transition(order=order, to=OrderStatus.AWAITING_AUTHORIZATION, actor_label="测试")

    assert Order.objects.get(pk=order.pk).status == OrderStatus.DRAFT
    assert OrderEvent.objects.count() == events
