"""On PostgreSQL: the order history is append-only in the database itself, and appends racing
from many connections still form one unbroken chain."""

import threading

import pytest
from django.db import DatabaseError, close_old_connections, connection, transaction

from orders.audit import chain_verify
from orders.models import Order, OrderEvent
from orders.services import order_transition
from orders.states import OrderStatus
from tests.factories import PackageFactory, UserFactory, new_certificate_order

THREADS = 12
MOVES = (OrderStatus.AWAITING_AUTHORIZATION, OrderStatus.AUTHORIZED, OrderStatus.CANCELLED)


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_database_refuses_to_change_or_remove_an_event(statement):
    assert connection.vendor == "postgresql"
    order = new_certificate_order(applicant=UserFactory(), package=PackageFactory())
    event = OrderEvent.objects.get(order=order)
    rows = OrderEvent.objects.filter(pk=event.pk)
    change = {"update": lambda: rows.update(reason="改过"), "delete": rows.delete}[statement]

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        change()

    event.refresh_from_db()
    assert event.reason == "创建订单"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_events_appended_from_many_connections_at_once_form_one_chain():
    assert connection.vendor == "postgresql"
    package = PackageFactory()
    orders = [
        new_certificate_order(applicant=UserFactory(), package=package) for _ in range(THREADS)
    ]
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def walk(order: Order) -> None:
        try:
            barrier.wait(timeout=10)
            for step in MOVES:
                order = order_transition(order=order, to=step, actor_label="并发测试")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=walk, args=(o,)) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert errors == []
    report = chain_verify()
    assert report.ok, report.findings
    assert report.checked == THREADS * (1 + len(MOVES))
    print(f"\naudit: {THREADS} threads appended {THREADS * len(MOVES)} events concurrently")
