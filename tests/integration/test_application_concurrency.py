"""On PostgreSQL, with real concurrency: applicants racing for the same enterprise — exactly one
open application wins, every other one gets the clear message."""

import threading

import pytest
from django.db import connection

from orders.models import Order
from orders.services import ApplicationError, order_draft_for, order_section_save
from orders.states import OPEN_STATUSES
from tests.factories import UserFactory, make_credit_code, make_id_number

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_parallel_applications_for_one_credit_code_exactly_one_wins():
    assert connection.vendor == "postgresql"
    code = make_credit_code()
    drafts = [order_draft_for(applicant=UserFactory()) for _ in range(8)]
    barrier = threading.Barrier(len(drafts))
    outcomes: list[str] = []
    lock = threading.Lock()

    def claim(order: Order) -> None:
        try:
            barrier.wait(timeout=10)
            order_section_save(
                order=order,
                section="enterprise",
                data={
                    "enterprise_name": "广州市示例科技有限公司",
                    "credit_code": code,
                    "legal_rep_name": "张三",
                    "legal_rep_id_number": make_id_number(sequence="777"),
                    "enterprise_address": "广东省广州市天河区示例路1号",
                },
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
    assert Order.objects.filter(credit_code=code, status__in=OPEN_STATUSES).count() == 1
