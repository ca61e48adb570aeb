"""yueqiqian/db.py: the hand-written statements' helpers give what the ORM gives."""

import datetime as dt

import pytest
from django.utils import timezone

from certificates.models import CAInstitution
from orders.models import Order
from tests.factories import CAInstitutionFactory, PackageFactory, UserFactory, new_certificate_order
from yueqiqian.db import raw_instances

pytestmark = pytest.mark.django_db

SQL = (
    "SELECT o.updated_at, o.id, o.number, o.status, o.amount_fen,"
    " (SELECT name FROM certificates_cainstitution WHERE id = o.ca_id) AS ca_name,"
    " o.created_at > %(since)s AS is_recent"
    " FROM orders_order o WHERE o.applicant_id = %(user)s ORDER BY o.id"
)


def test_raw_instances_are_what_django_raw_gives():
    user = UserFactory()
    package = PackageFactory(ca=CAInstitutionFactory(name="数安时代"))
    orders = [new_certificate_order(applicant=user, package=package) for _ in range(3)]
    params = {"user": user.pk, "since": timezone.now() - dt.timedelta(days=1)}

    mine = raw_instances(Order, SQL, params)
    django = list(Order.objects.raw(SQL, params))

    assert [o.pk for o in mine] == [o.pk for o in orders]
    fields = ["id", "number", "status", "amount_fen", "updated_at", "ca_name"]
    for got, expected in zip(mine, django, strict=True):
        assert [getattr(got, f) for f in fields] == [getattr(expected, f) for f in fields]
        assert bool(got.is_recent) is bool(expected.is_recent) is True
        assert got.updated_at.tzinfo is not None  # converted (SQLite gives text)
        assert got.get_deferred_fields() == expected.get_deferred_fields()
        assert "enterprise_name" in got.get_deferred_fields()
        assert got._state.adding is False
    # A deferred field still loads on access, as with Django's raw().
    assert mine[0].enterprise_name == orders[0].enterprise_name


def test_a_raw_statement_without_the_primary_key_is_refused():
    with pytest.raises(ValueError, match="primary key"):
        raw_instances(CAInstitution, "SELECT name FROM certificates_cainstitution", [])
