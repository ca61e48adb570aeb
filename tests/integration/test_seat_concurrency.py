"""On PostgreSQL, with real concurrency: an administrator's 【添加用户】 fired ten times at once for
three free seats — exactly three employees are authorized, every other attempt gets the
message, and the certificate never has more employees than seats."""

import threading

import pytest
from django.db import connection

from certificates.models import EmployeeAuthorization
from certificates.selectors import seats_total, seats_used
from certificates.services import SEATS_FULL_MESSAGE, EmployeeError, employee_add
from tests.certificates.test_certificate_pages import certificate_row, seats_grant
from tests.factories import PackageFactory, UserFactory

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ATTEMPTS = 10


def test_parallel_additions_never_take_more_than_the_free_seats():
    assert connection.vendor == "postgresql"
    holder = UserFactory()
    cert = certificate_row(holder=holder, package=PackageFactory())
    seats_grant(cert, 3)  # 4 seats: the administrator's and 3 free
    assert seats_total(cert) - seats_used(cert) == 3
    barrier = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def add(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            employee_add(certificate=cert, actor=holder, name="李四", phone=f"139{n:08d}")
            result = "added"
        except EmployeeError as exc:
            result = exc.message
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(ATTEMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(outcomes) == ATTEMPTS
    assert outcomes.count("added") == 3
    assert set(outcomes) - {"added"} == {SEATS_FULL_MESSAGE}
    assert (
        EmployeeAuthorization.objects.filter(certificate=cert, removed_at__isnull=True).count() == 3
    )
    assert seats_used(cert) == seats_total(cert) == 4
