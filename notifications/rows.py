"""Writing many rows at once, for the automation run's batches.

Django's bulk_create builds a model instance per row and prepares every value through its field: at a million
rows that is most of a renewal run's time (see docs/PERFORMANCE.md). `insert_rows` takes plain column values
and, on PostgreSQL, writes them with COPY, taking the new ids from the table's sequence first when the caller
needs them. Elsewhere (SQLite: `make run`, the unit tests) it falls back to bulk_create, so both paths give
the same rows. The values must be what the columns hold: Decimal, date, aware datetime, str, bool, int, None,
and plain data for JSON fields.

COPY goes around Django's cursor wrapper; each one is added to the query log so that query-count tests and the
debug toolbar still see one statement per batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone


def _with_defaults(model: type[models.Model], rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every concrete column a row leaves out gets its field's default (the same value for the whole batch;
    auto_now fields get now), as bulk_create would give it. COPY knows nothing of Django's defaults."""
    given = set(rows[0])
    now = timezone.now()
    extra: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in given or field.name in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            extra[field.attname] = (
                now.date()
                if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField)
                else now
            )
        else:
            value = field.get_default()  # its default, "" for a text field without one, or None
            if value is None and not field.null:
                raise ValueError(f"{model.__name__}.{field.name} has no default: give it in every row.")
            extra[field.attname] = value
    return [{**row, **extra} for row in rows] if extra else list(rows)


def insert_rows(model: type[models.Model], rows: Sequence[dict[str, Any]], *, ids: bool = False) -> list[int]:
    """Insert `rows` ({field name or attname: value}, every row with the same keys) into `model`'s table.
    Returns the new ids in row order when `ids` is set (an empty list otherwise)."""
    if not rows:
        return []
    if connection.vendor != "postgresql":
        created = model.objects.bulk_create([model(**row) for row in rows])
        return [obj.pk for obj in created] if ids else []
    rows = _with_defaults(model, rows)
    names = list(rows[0])
    fields = [model._meta.get_field(name) for name in names]
    json_positions = [i for i, field in enumerate(fields) if isinstance(field, models.JSONField)]
    quote = connection.ops.quote_name
    table = model._meta.db_table
    columns = [field.column for field in fields]
    new_ids: list[int] = []
    with connection.cursor() as cursor:
        if ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, model._meta.pk.column, len(rows)],
            )
            new_ids = [row[0] for row in cursor.fetchall()]
            columns = [model._meta.pk.column, *columns]
        sql = f"COPY {quote(table)} ({', '.join(quote(column) for column in columns)}) FROM STDIN"
        started = time.monotonic()
        if json_positions:
            from psycopg.types.json import Jsonb

        with cursor.cursor.copy(sql) as copy:
            for n, row in enumerate(rows):
                values = [row[name] for name in names]
                for i in json_positions:
                    values[i] = Jsonb(values[i])
                copy.write_row([new_ids[n], *values] if ids else values)
        if connection.queries_logged:
            connection.queries_log.append(
                {"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"}
            )
    return new_ids


def update_rows(model: type[models.Model], fields: Sequence[str], rows: Sequence[tuple]) -> None:
    """Set `fields` of many rows to per-row values: `rows` are (pk, value for each field) tuples. On PostgreSQL
    one UPDATE ... FROM unnest(arrays), a statement whose size and planning do not grow with a CASE per row as
    bulk_update's do; elsewhere bulk_update."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        objs = []
        for pk, *values in rows:
            obj = model(pk=pk)
            for name, value in zip(fields, values, strict=True):
                setattr(obj, model._meta.get_field(name).attname, value)
            objs.append(obj)
        model.objects.bulk_update(objs, fields)
        return
    quote = connection.ops.quote_name
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    arrays = ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in columns)
    names = ", ".join(quote(field.column) for field in columns)
    assignments = ", ".join(f"{quote(field.column)} = v.{quote(field.column)}" for field in columns[1:])
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM unnest({arrays}) AS v({names}) "
        f"WHERE t.{quote(meta.pk.column)} = v.{quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(column) for column in zip(*rows, strict=True)])
