import datetime as dt

from django.db import connection
from django.db.models import QuerySet

from accounts.models import User
from yueqiqian.db import column_from_db

from .models import Order

# What a list row shows (templates/orders/order_list.html#order_row): only these columns are read.
ORDER_ROW_FIELDS = (
    "number",
    "kind",
    "status",
    "enterprise_name",
    "extra_seats",
    "years",
    "amount_fen",
    "created_at",
    "ca__name",
)


def order_list_for_user(*, user: User) -> QuerySet[Order]:
    """The user's orders, newest first, with what a list row shows (no query per row)."""
    return Order.objects.filter(applicant=user).select_related("ca").only(*ORDER_ROW_FIELDS)


def order_list_stamp(*, user: User) -> tuple[int, dt.datetime | None]:
    """How many orders the user has and when the newest change to any of them was: every write
    to an order moves its `updated_at`, so the rows of 订单管理 are the same while this is
    (once settled: yueqiqian/fragments.py).

    In SQL: it runs on every view of 订单管理 and home, and the ORM spent several times
    PostgreSQL's 0.05 ms building and compiling the aggregate."""
    with connection.cursor() as cursor:
        cursor.execute(*order_list_stamp_statement(user=user))
        return order_list_stamp_from(cursor.fetchone())


def order_list_stamp_statement(*, user: User) -> tuple[str, dict]:
    """order_list_stamp's statement (one row), for a page that reads it beside other rows."""
    return _STAMP_SQL, {"stamp_applicant": user.pk}


def order_list_stamp_from(row: tuple) -> tuple[int, dt.datetime | None]:
    count, last = row
    return count, column_from_db(Order, "updated_at", last)


_STAMP_SQL = (
    f"SELECT COUNT(*), MAX(updated_at) FROM {Order._meta.db_table}"  # noqa: S608
    " WHERE applicant_id = %(stamp_applicant)s"
)


# Two reads of one order that pages make on every view or poll, in SQL on the prepared cursor.
_STATUS_SQL = (
    f"SELECT status FROM {Order._meta.db_table}"  # noqa: S608
    " WHERE number = %(number)s AND applicant_id = %(applicant)s"
)
_PAGE_STAMP_SQL = (
    "SELECT o.status, o.updated_at,"  # noqa: S608
    " (SELECT name FROM certificates_cainstitution WHERE id = o.ca_id),"
    " (SELECT name FROM certificates_package WHERE id = o.package_id)"
    f" FROM {Order._meta.db_table} o"
    " WHERE o.number = %(number)s AND o.applicant_id = %(applicant)s"
)


def order_status_of(*, number: str, user: User) -> str | None:
    """The status of the user's order `number`, or None if the user has no such order."""
    with connection.cursor() as cursor:
        cursor.execute(_STATUS_SQL, {"number": number, "applicant": user.pk})
        row = cursor.fetchone()
    return row[0] if row else None


def order_page_stamp(*, number: str, user: User) -> tuple | None:
    """What can change on the user's order's application page: (status, updated_at — every
    write moves it —, the CA's name, the package's name); None if the user has no such order."""
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_STAMP_SQL, {"number": number, "applicant": user.pk})
        row = cursor.fetchone()
    if row is None:
        return None
    status, updated_at, ca_name, package_name = row
    return status, column_from_db(Order, "updated_at", updated_at), ca_name, package_name
