"""On PostgreSQL, with real concurrency: applicants submitting for the same enterprise at once —
exactly one open application wins, every other one gets the clear message."""

import threading

import pytest
from django.db import connection

from orders.models import Order
from orders.services import ApplicationError, agreement_accept
from orders.states import OPEN_STATUSES, OrderStatus
from tests.factories import (
    AgreementVersionFactory,
    PackageFactory,
    UserFactory,
    filled_application,
    make_credit_code,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_parallel_submissions_for_one_credit_code_exactly_one_wins():
    assert connection.vendor == "postgresql"
    code = make_credit_code()
    package = PackageFactory()
    agreement = AgreementVersionFactory(ca=package.ca)
    drafts = [
        filled_application(applicant=UserFactory(), package=package, credit_code=code)
        for _ in range(8)
    ]
    barrier = threading.Barrier(len(drafts))
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(order: Order) -> None:
        try:
            barrier.wait(timeout=10)
            agreement_accept(
                order=order, actor=order.applicant, agreement=agreement, ip="", user_agent=""
            )
            result = "won"
        except ApplicationError as exc:
            result = exc.message
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=claim, args=(d,)) for d in drafts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(outcomes) == len(drafts)
    assert outcomes.count("won") == 1
    assert set(outcomes) - {"won"} == {"该企业已有正在办理的申请，不能重复申请"}
    submitted = Order.objects.filter(
        credit_code=code, status__in=OPEN_STATUSES - {OrderStatus.DRAFT}
    )
    assert submitted.count() == 1
