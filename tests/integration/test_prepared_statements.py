"""On PostgreSQL parameters are bound on the server and a statement run a few times on a
connection is prepared there (settings: DB_PREPARED_STATEMENTS): planned once, not per request."""

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


def test_statements_run_again_are_prepared_once(client, settings):
    assert connection.vendor == "postgresql"
    threshold = settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"]
    user = UserFactory()
    new_certificate_order(applicant=user, package=PackageFactory())
    client.force_login(user)

    for _ in range(threshold + 2):
        response = client.get(reverse("home"))
        assert response.status_code == 200
        list(Order.objects.filter(applicant=user))

    prepared = _prepared()
    # The session's user, home's stamp + certificate rows, an ORM query: each prepared once.
    assert sum('FROM "accounts_user" WHERE "id" = $1' in s for s in prepared) == 1
    assert sum("FROM orders_order WHERE applicant_id = $1" in s for s in prepared) == 1
    assert sum('WHERE "orders_order"."applicant_id" = $1' in s for s in prepared) >= 1
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
