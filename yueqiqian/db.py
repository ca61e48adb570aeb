"""Helpers for the few reads written in SQL (where the ORM cost more than the query)."""

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
