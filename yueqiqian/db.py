"""Helpers for the few reads written in SQL (where the ORM cost more than the query)."""

from functools import cache

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model


def column_from_db(model: type[Model], name: str, value):
    """A raw column value of `model.name` as the ORM would hand it over (e.g. SQLite's text for
    a datetime → an aware datetime)."""
    if value is None:
        return None
    field = model._meta.get_field(name)
    col = field.get_col(model._meta.db_table)
    for converter in connection.ops.get_db_converters(col) + field.get_db_converters(connection):
        value = converter(value, col, connection)
    return value


@cache
def _by_pk_plan(model: type[Model], vendor: str) -> tuple[str, list[str], list[tuple]]:
    """The statement reading one row of `model` by primary key, the attribute names in column
    order, and each column's (index, field, column, converters) where the backend converts."""
    opts = model._meta
    fields = opts.concrete_fields
    quote = connection.ops.quote_name
    sql = "SELECT {} FROM {} WHERE {} = %s".format(  # noqa: S608 (names from the model)
        ", ".join(quote(f.column) for f in fields), quote(opts.db_table), quote(opts.pk.column)
    )
    converting = []
    for index, field in enumerate(fields):
        col = field.get_col(opts.db_table)
        converters = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if converters:
            converting.append((index, col, converters))
    return sql, [f.attname for f in fields], converting


def instance_by_pk(model: type[Model], pk) -> Model | None:
    """`model.objects.filter(pk=pk).first()` without a queryset: the same instance (every
    concrete field loaded, values converted as the ORM converts them), or None. The ORM spends
    about four times the round trip building and compiling that query; this runs on every
    logged-in request (the session's user)."""
    try:
        pk = model._meta.pk.to_python(pk)
    except ValidationError:
        return None
    sql, attnames, converting = _by_pk_plan(model, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        return None
    if converting:
        row = list(row)
        for index, col, converters in converting:
            if row[index] is not None:
                for converter in converters:
                    row[index] = converter(row[index], col, connection)
    return model.from_db(connection.alias, attnames, row)
