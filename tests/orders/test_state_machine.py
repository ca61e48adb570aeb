"""The order state machine: the table's moves happen, every other move is refused, each move is
recorded once, and a move that lost a race changes nothing."""

import re
from collections import deque

import pytest
from django.db import IntegrityError, transaction

from orders.models import Order, OrderEvent
from orders.services import TransitionConflict, TransitionNotAllowed, order_transition
from orders.states import INITIAL_STATUS, TRANSITIONS, OrderKind, OrderStatus
from tests.factories import UserFactory, new_certificate_order, seat_topup_order

pytestmark = pytest.mark.django_db

ALLOWED = [
    (kind, src, dst)
    for kind, table in TRANSITIONS.items()
    for src, dsts in table.items()
    for dst in sorted(dsts)
]
REFUSED = [
    (kind, src, dst)
    for kind, table in TRANSITIONS.items()
    for src in table
    for dst in OrderStatus.values
    if dst not in table[src]
]


def path_to(kind: str, target: str) -> list[str]:
    """The shortest list of moves from the kind's first status to `target`, by the table."""
    start = INITIAL_STATUS[kind]
    seen = {start: [start]}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for nxt in TRANSITIONS[kind][current]:
            if nxt not in seen:
                seen[nxt] = [*seen[current], nxt]
                queue.append(nxt)
    return seen[target]


def order_in(kind: str, status: str, package) -> Order:
    applicant = UserFactory()
    if kind == OrderKind.NEW_CERTIFICATE:
        order = new_certificate_order(applicant=applicant, package=package)
    else:
        order = seat_topup_order(applicant=applicant, ca=package.ca)
    for step in path_to(kind, status)[1:]:
        order = order_transition(order=order, to=step, actor_label="测试")
    return order


def test_every_status_of_each_kind_is_reachable_from_its_first():
    for kind, table in TRANSITIONS.items():
        for status in table:
            assert path_to(kind, status)[-1] == status


@pytest.mark.parametrize(("kind", "src", "dst"), ALLOWED)
def test_each_allowed_move_happens_and_is_recorded(kind, src, dst, package):
    order = order_in(kind, src, package)
    actor = UserFactory()
    events_before = OrderEvent.objects.filter(order=order).count()

    order_transition(order=order, to=dst, actor=actor, reason="按流程推进")

    order.refresh_from_db()
    assert order.status == dst
    assert OrderEvent.objects.filter(order=order).count() == events_before + 1
    event = OrderEvent.objects.filter(order=order).latest("id")
    assert (event.from_status, event.to_status, event.actor, event.reason) == (
        src,
        dst,
        actor,
        "按流程推进",
    )


@pytest.mark.parametrize(("kind", "src", "dst"), REFUSED)
def test_each_move_outside_the_table_is_refused_and_changes_nothing(kind, src, dst, package):
    order = order_in(kind, src, package)
    events_before = OrderEvent.objects.filter(order=order).count()

    with pytest.raises(TransitionNotAllowed):
        order_transition(order=order, to=dst, actor_label="测试")

    order.refresh_from_db()
    assert order.status == src
    assert OrderEvent.objects.filter(order=order).count() == events_before


def test_a_move_from_a_stale_copy_loses_and_changes_nothing(package):
    order = order_in(OrderKind.NEW_CERTIFICATE, OrderStatus.AUTHORIZED, package)
    stale = Order.objects.get(pk=order.pk)
    order_transition(order=order, to=OrderStatus.ISSUING, actor_label="微信支付")

    with pytest.raises(TransitionConflict):
        order_transition(order=stale, to=OrderStatus.CANCELLED, actor_label="系统")

    order.refresh_from_db()
    assert order.status == OrderStatus.ISSUING
    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.CANCELLED).count() == 0


def test_a_move_that_must_happen_once_happens_once(package):
    order = order_in(OrderKind.NEW_CERTIFICATE, OrderStatus.AUTHORIZED, package)
    first = Order.objects.get(pk=order.pk)
    second = Order.objects.get(pk=order.pk)

    order_transition(order=first, to=OrderStatus.ISSUING, actor_label="微信支付")
    with pytest.raises(TransitionConflict):
        order_transition(order=second, to=OrderStatus.ISSUING, actor_label="微信支付")

    assert OrderEvent.objects.filter(order=order, to_status=OrderStatus.ISSUING).count() == 1


def test_other_fields_change_in_the_same_guarded_update(package):
    order = order_in(OrderKind.NEW_CERTIFICATE, OrderStatus.AWAITING_AUTHORIZATION, package)

    order_transition(order=order, to=OrderStatus.CANCELLED, actor_label="系统", extra_seats=0)

    assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED


def test_a_new_order_starts_in_its_kinds_first_status_with_an_event(package):
    applicant = UserFactory()

    order = new_certificate_order(applicant=applicant, package=package)
    topup = seat_topup_order(applicant=applicant, ca=package.ca)

    assert order.status == OrderStatus.DRAFT
    assert topup.status == OrderStatus.AWAITING_PAYMENT
    first = order.events.get()
    assert (first.from_status, first.to_status, first.actor) == ("", "draft", applicant)


def test_order_numbers_are_readable_and_unique(package):
    applicant = UserFactory()
    numbers = {
        new_certificate_order(applicant=applicant, package=package).number for _ in range(30)
    }

    assert len(numbers) == 30
    assert all(re.fullmatch(r"YQ\d{8}\d{8}", n) for n in numbers)


def test_the_database_refuses_a_status_the_kind_does_not_have(package):
    order = seat_topup_order(applicant=UserFactory(), ca=package.ca)

    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.ISSUING)


def test_every_status_has_a_chinese_label():
    for status in OrderStatus:
        assert re.search(r"[\u4e00-\u9fff]", status.label), status
