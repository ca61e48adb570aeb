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
def _by_pk_sql(model: type[Model], vendor: str) -> str:
    """The statement reading one row of `model`, every concrete field, by primary key."""
    opts = model._meta
    quote = connection.ops.quote_name
    return "SELECT {} FROM {} WHERE {} = %s".format(  # noqa: S608 (names from the model)
        ", ".join(quote(f.column) for f in opts.concrete_fields),
        quote(opts.db_table),
        quote(opts.pk.column),
    )


def instance_by_pk(model: type[Model], pk) -> Model | None:
    """`model.objects.filter(pk=pk).first()` without a queryset: the same instance (every
    concrete field loaded, values converted as the ORM converts them), or None. The ORM spends
    about four times the round trip building and compiling that query; this runs on every
    logged-in request (the session's user)."""
    try:
        pk = model._meta.pk.to_python(pk)
    except ValidationError:
        return None
    found = raw_instances(model, _by_pk_sql(model, connection.vendor), [pk])
    return found[0] if found else None


def raw_instances(model: type[Model], sql: str, params) -> list[Model]:
    """`list(model.objects.raw(sql, params))` for less Python: columns named after the
    model's fields are loaded (converted as the ORM converts them), the model's other fields
    deferred, and any other column set as an attribute."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = tuple(column[0] for column in cursor.description)
        found = cursor.fetchall()
    attnames, loaded, extra, converting = _raw_plan(model, names, connection.vendor)
    instances = []
    for row in found:
        if converting:
            row = list(row)
            for index, col, converters in converting:
                if row[index] is not None:
                    for converter in converters:
                        row[index] = converter(row[index], col, connection)
        instance = model.from_db(connection.alias, attnames, [row[i] for i in loaded])
        for index, name in extra:
            setattr(instance, name, row[index])
        instances.append(instance)
    return instances


@cache
def _raw_plan(model: type[Model], names: tuple[str, ...], vendor: str):
    by_column = {f.column: f for f in model._meta.concrete_fields}
    attnames, loaded, extra, converting = [], [], [], []
    for index, name in enumerate(names):
        field = by_column.get(name)
        if field is None:
            extra.append((index, name))
            continue
        attnames.append(field.attname)
        loaded.append(index)
        col = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
        if converters:
            converting.append((index, col, converters))
    if model._meta.pk.attname not in attnames:
        raise ValueError(f"{model.__name__}: a raw statement must select the primary key")
    # from_db takes the fields in the model's order.
    model_order = [f.attname for f in model._meta.concrete_fields]
    order = sorted(range(len(attnames)), key=lambda i: model_order.index(attnames[i]))
    return [attnames[i] for i in order], [loaded[i] for i in order], extra, converting
