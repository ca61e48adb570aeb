"""On PostgreSQL the hot pages' hand-written statements are prepared once per connection
(yueqiqian/db.py prepared_cursor); the ORM's queries are not (they bind on the client)."""

import pytest
from django.db import connection
from django.urls import reverse

from certificates.selectors import (
    certificate_page,
    certificate_rows_first,
    certificate_rows_for_user,
)
from orders.models import Order
from tests.certificates.test_certificate_pages import (
    _shown,
    authorize,
    certificate_row,
    seats_grant,
)
from tests.factories import PackageFactory, UserFactory, new_certificate_order

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _prepared() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


def test_home_statements_are_prepared_once_and_the_orms_are_not(client):
    assert connection.vendor == "postgresql"
    user = UserFactory()
    new_certificate_order(applicant=user, package=PackageFactory())
    client.force_login(user)

    for _ in range(3):
        response = client.get(reverse("home"))
        assert response.status_code == 200
    list(Order.objects.filter(applicant=user))  # an ORM query, three times
    list(Order.objects.filter(applicant=user))
    list(Order.objects.filter(applicant=user))

    prepared = _prepared()
    # The session's user, and home's stamp + certificate rows: each prepared once.
    assert sum('FROM "accounts_user" WHERE "id" = $1' in s for s in prepared) == 1
    assert sum("FROM orders_order WHERE applicant_id = $1" in s for s in prepared) == 1
    assert not any('"orders_order"."applicant_id"' in s for s in prepared)
    # And what they read is what the page shows.
    assert "暂无企业证书" in response.content.decode()


def test_prepared_statements_give_the_same_rows_as_the_orm():
    me = UserFactory(phone="13800000001")
    package = PackageFactory()
    held = certificate_row(holder=me, package=package, enterprise_name="我的企业有限公司")
    seats_grant(held, 4)
    authorize(held, "13900002222")
    other = certificate_row(holder=UserFactory(), package=package, enterprise_name="雇主有限公司")
    authorize(other, me.phone)
    orm = [_shown(r) for r in certificate_rows_for_user(user=me)[:3]]
    assert len(orm) == 2
    # Past PostgreSQL's five custom plans, the generic plan answers: the same rows.
    for _ in range(8):
        assert [_shown(r) for r in certificate_rows_first(user=me, limit=3)] == orm
        assert (certificate_page(held.pk).seats_used, certificate_page(held.pk).seats_total) == (
            2,
            5,
        )
