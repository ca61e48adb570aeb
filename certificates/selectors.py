from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from django.db import connection
from django.db.models import F, Func, IntegerField, Q, QuerySet, Sum, Value
from django.utils import timezone

from accounts.models import User
from yueqiqian.db import column_from_db, raw_instances

from .keys import key_backend
from .models import (
    AgreementVersion,
    CACertificate,
    CAInstitution,
    EmployeeAuthorization,
    EnterpriseCertificate,
    SeatGrant,
)


def agreement_current(*, ca: CAInstitution) -> AgreementVersion | None:
    """The CA's newest agreement version: the one applicants are shown and accept."""
    return AgreementVersion.objects.filter(ca=ca).order_by("-version").first()


def ca_private_key_load(cert: CACertificate) -> PrivateKeyTypes:
    return key_backend().unwrap(
        cert.encrypted_private_key, context=bytes.fromhex(cert.sha256_fingerprint)
    )


def seat_grants_active(*, credit_code: str, at=None) -> QuerySet[SeatGrant]:
    """The enterprise's seat grants in force at `at` (now)."""
    at = at or timezone.now()
    return SeatGrant.objects.filter(credit_code=credit_code, starts_at__lte=at, expires_at__gt=at)


def seats_total(certificate: EnterpriseCertificate, *, at=None) -> int:
    """Seats on the certificate: the administrator's own, plus every grant in force."""
    extra = seat_grants_active(credit_code=certificate.credit_code, at=at).aggregate(
        total=Sum("seats")
    )["total"]
    return 1 + (extra or 0)


def seats_used(certificate: EnterpriseCertificate) -> int:
    """The administrator plus the employees authorized now."""
    return 1 + certificate.employees.filter(removed_at__isnull=True).count()


# ---- Seat numbers, in SQL ------------------------------------------------------------------------
# seats_total and seats_used above, as scalar subqueries: for the list's annotations and for the
# certificate's pages' query (below). test_the_list_seat_numbers_agree_with_the_selectors and
# test_the_pages_seat_numbers_agree_with_the_selectors keep the three in step.
# {0} is the certificate's column (credit code, id), {1} and {2} are now.

_SEATS_TOTAL_SQL = (
    "(1 + COALESCE((SELECT SUM(g.seats) FROM certificates_seatgrant g"
    " WHERE g.credit_code = {0} AND g.starts_at <= {1} AND g.expires_at > {2}), 0))"
)
_SEATS_USED_SQL = (
    "(1 + (SELECT COUNT(*) FROM certificates_employeeauthorization e"
    " WHERE e.certificate_id = {0} AND e.removed_at IS NULL))"
)


class _SQLSubquery(Func):
    """A scalar subquery written in SQL around columns of the outer query: `{0}`, `{1}`, … in
    `template` are the compiled source expressions (the outer column, then values).

    Why not Subquery(): it builds, resolves and compiles a nested queryset for every query,
    and for the two seat numbers that cost ~1.5 ms of CPU a request, more than the query.
    """

    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra_context):
        compiled = [compiler.compile(expression) for expression in self.get_source_expressions()]
        sql = self.extra["template"].format(*(part for part, _ in compiled))
        return sql, tuple(param for _, params in compiled for param in params)


def with_seats(queryset: QuerySet[EnterpriseCertificate]) -> QuerySet[EnterpriseCertificate]:
    """Each certificate with `seats_total` and `seats_used`, computed in the same query (no
    query per row)."""
    now = Value(timezone.now())
    return queryset.annotate(
        seats_total=_SQLSubquery(F("credit_code"), now, now, template=_SEATS_TOTAL_SQL),
        seats_used=_SQLSubquery(F("pk"), template=_SEATS_USED_SQL),
    )


# ---- Who sees a certificate ----------------------------------------------------------------------
# Its holder (管理员) and every active employee (员工授权, by the phone number they log in with).
# Both ways in have an index (holder_id; phone) and the queries keep to them: a filter like
# `holder = me OR EXISTS (an authorization …)` has no index that answers it, and PostgreSQL
# reads every certificate to find a user's two or three.


def employee_certificate_ids(*, phone: str) -> QuerySet[EmployeeAuthorization]:
    """The ids of the certificates `phone` is an active employee on, as a subquery."""
    return EmployeeAuthorization.objects.filter(phone=phone, removed_at__isnull=True).values(
        "certificate_id"
    )


def is_active_employee(*, certificate: EnterpriseCertificate, phone: str) -> bool:
    return EmployeeAuthorization.objects.filter(
        certificate=certificate, phone=phone, removed_at__isnull=True
    ).exists()


# What templates/certificates/_certificate_row.html reads besides the annotations.
ROW_FIELDS = ("enterprise_name", "status", "not_after", "ca__name")


def certificates_for_user(*, user: User) -> QuerySet[EnterpriseCertificate]:
    """The issued certificates the user holds or is an active employee on, newest first.

    Each carries `is_holder` and the seat numbers; its CA comes in the same query. The private
    key is never read here: a web request has no use for it.
    """
    # `id IN (held UNION ALL authorized)`: PostgreSQL reads each side from its index and joins
    # the few ids to the certificates by primary key.
    held = EnterpriseCertificate.objects.filter(holder=user).values("pk")
    visible = held.union(employee_certificate_ids(phone=user.phone), all=True)
    return with_seats(
        EnterpriseCertificate.objects.exclude(status=EnterpriseCertificate.Status.PENDING)
        .filter(pk__in=visible)
        .annotate(is_holder=Q(holder=user))
        .select_related("ca")
        .defer("encrypted_private_key")
    )


def certificate_rows_for_user(*, user: User) -> QuerySet[EnterpriseCertificate]:
    """certificates_for_user, as list rows (home, 我的, 【全部】): what a row shows and no more."""
    return certificates_for_user(user=user).annotate(ca_name=F("ca__name")).only(*ROW_FIELDS)


# The first few rows for home and 我的, in SQL: the same rows as certificate_rows_for_user (the
# list of 【全部】 pages through the ORM version), for a fraction of the CPU — building and
# compiling the ORM's union and annotations cost ~2 ms a request, PostgreSQL answers in 0.1 ms.
# test_the_first_rows_in_sql_are_the_orms_first_rows keeps the two in step.
_FIRST_ROWS_SQL = (
    "SELECT c.id, c.holder_id, c.status, c.enterprise_name, c.not_after,"  # noqa: S608
    " (SELECT name FROM certificates_cainstitution WHERE id = c.ca_id) AS ca_name,"
    " (c.holder_id = %(user)s) AS is_holder,"
    f" {_SEATS_TOTAL_SQL.format('c.credit_code', '%(now)s', '%(now)s')} AS seats_total,"
    f" {_SEATS_USED_SQL.format('c.id')} AS seats_used,"
    " c.created_at"
    " FROM certificates_enterprisecertificate c"
    " WHERE c.id IN (SELECT h.id FROM certificates_enterprisecertificate h"
    "  WHERE h.holder_id = %(user)s"
    "  UNION ALL SELECT e.certificate_id FROM certificates_employeeauthorization e"
    "  WHERE e.phone = %(phone)s AND e.removed_at IS NULL)"
    " AND c.status <> %(pending)s"
    " ORDER BY c.created_at DESC LIMIT %(limit)s"
)


def certificate_rows_first(*, user: User, limit: int) -> list[EnterpriseCertificate]:
    """The first `limit` rows of certificate_rows_for_user, with `ca_name`, `is_holder` and
    the seat numbers, in one SQL query."""
    with connection.cursor() as cursor:
        cursor.execute(_FIRST_ROWS_SQL, _first_rows_params(user, limit))
        return _first_rows_from(cursor.fetchall())


def certificate_rows_first_beside(
    statement: tuple[str, dict], *, user: User, limit: int
) -> tuple[tuple, list[EnterpriseCertificate]]:
    """certificate_rows_first, and the one row of another statement (e.g. the user's orders'
    stamp for home), in one round trip: a page that needs both pays one query's overhead. The
    statement must give exactly one row; its named parameters must not be this query's."""
    sql, params = statement
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.*, r.* FROM ({sql}) b LEFT JOIN ({_FIRST_ROWS_SQL}) r ON 1 = 1"  # noqa: S608
            " ORDER BY r.created_at DESC",
            {**params, **_first_rows_params(user, limit)},
        )
        found = cursor.fetchall()
    width = len(found[0]) - _FIRST_ROWS_WIDTH
    # No certificate: one row, the statement's values beside NULLs.
    rows = [row[width:] for row in found if row[width] is not None]
    return found[0][:width], _first_rows_from(rows)


def _first_rows_params(user: User, limit: int) -> dict:
    return {
        "user": user.pk,
        "phone": user.phone,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "pending": EnterpriseCertificate.Status.PENDING,
        "limit": limit,
    }


def _first_rows_from(found) -> list[EnterpriseCertificate]:
    # Built from the cursor's rows (a RawQuerySet costs more Python than the query): the model's
    # columns through their database converters, as the ORM would, then the computed ones.
    rows = []
    for pk, holder_id, status, name, not_after, ca_name, is_holder, total, used, _ in found:
        row = EnterpriseCertificate.from_db(
            connection.alias,
            _FIRST_ROWS_FIELDS,
            [
                pk,
                holder_id,
                status,
                name,
                column_from_db(EnterpriseCertificate, "not_after", not_after),
            ],
        )
        row.ca_name, row.is_holder, row.seats_total, row.seats_used = (
            ca_name, bool(is_holder), total, used
        )  # fmt: skip
        rows.append(row)
    return rows


_FIRST_ROWS_FIELDS = ["id", "holder_id", "status", "enterprise_name", "not_after"]
_FIRST_ROWS_WIDTH = 10  # the columns of _FIRST_ROWS_SQL


def certificate_visible_to(
    certificate: EnterpriseCertificate | None, *, user: User
) -> EnterpriseCertificate | None:
    """The certificate, with `is_holder`, if the user holds it or is an active employee on
    it; else None. No query for the holder, one for anyone else."""
    if certificate is None:
        return None
    certificate.is_holder = certificate.holder_id == user.pk
    if certificate.is_holder or is_active_employee(certificate=certificate, phone=user.phone):
        return certificate
    return None


def certificate_held_by(
    certificate: EnterpriseCertificate | None, *, user: User
) -> EnterpriseCertificate | None:
    """The certificate, if the user is its administrator; else None."""
    if certificate is None or certificate.holder_id != user.pk:
        return None
    certificate.is_holder = True
    return certificate


# ---- A certificate's pages -----------------------------------------------------------------------

# Its page and the 员工授权 pages are read with one query, written in SQL: what they show of the
# certificate, the CA's name, the order's number and the seat numbers. Through the ORM the same
# query cost twice as much CPU to build and compile as PostgreSQL spends answering it (the
# pages are among the most visited), and a join for one column of the CA or the order costs
# PostgreSQL's planner more than a subquery (0.05 and 0.09 ms against 0.02).
# employee_id_sum (of the active employees' ids) tells, with seats_used, whether the list of
# employees changed: ids only grow and a removed authorization never comes back, so a list of
# as many employees as before but not the same ones has a newer, higher id in place of an
# older one, and a higher sum. (Not MAX(id): PostgreSQL may answer that by reading the whole
# table backwards along its primary key.)
# (S608: the SQL is made of constants; every value is a parameter.)
_CERTIFICATE_PAGE_SQL = (
    "SELECT c.id, c.holder_id, c.status, c.enterprise_name, c.credit_code, c.legal_rep_name,"  # noqa: S608
    " c.serial_hex, c.sha256_fingerprint, c.not_before, c.not_after,"
    " (SELECT name FROM certificates_cainstitution WHERE id = c.ca_id) AS ca_name,"
    " (SELECT number FROM orders_order WHERE id = c.order_id) AS order_number,"
    f" {_SEATS_TOTAL_SQL.format('c.credit_code', '%(now)s', '%(now)s')} AS seats_total,"
    f" {_SEATS_USED_SQL.format('c.id')} AS seats_used,"
    " (SELECT COALESCE(SUM(e.id), 0) FROM certificates_employeeauthorization e"
    "  WHERE e.certificate_id = c.id AND e.removed_at IS NULL) AS employee_id_sum"
    " FROM certificates_enterprisecertificate c"
    " WHERE c.id = %(pk)s AND c.status <> %(pending)s"
)


def certificate_page(pk: int) -> EnterpriseCertificate | None:
    """Issued certificate `pk` as its pages show it — without the PEM, the key or the seals —
    with `ca_name`, `order_number`, `seats_total`, `seats_used` and `employee_id_sum`; None
    if there is none (or it is still being issued). Who may see it is the caller's check."""
    params = {
        "pk": pk,
        "now": connection.ops.adapt_datetimefield_value(timezone.now()),
        "pending": EnterpriseCertificate.Status.PENDING,
    }
    return next(iter(raw_instances(EnterpriseCertificate, _CERTIFICATE_PAGE_SQL, params)), None)


def certificate_issued(
    pk: int, queryset: QuerySet[EnterpriseCertificate]
) -> EnterpriseCertificate | None:
    """Certificate `pk` from `queryset` (e.g. with its files), unless still being issued."""
    return queryset.exclude(status=EnterpriseCertificate.Status.PENDING).filter(pk=pk).first()
