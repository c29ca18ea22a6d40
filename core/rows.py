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
from django.db.models import CharField, F, Func
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


def insert_select(
    model: type[models.Model],
    queryset: models.QuerySet,
    columns: dict[str, Any],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list[tuple] | int:
    """INSERT INTO `model`'s table the rows the database makes from `queryset`: one row per row of it, each
    column ({field name or attname: expression over the queryset's model}) computed by the database, so the
    rows never pass through Python. A column left out gets its field's default, as in insert_rows; a None is
    left to the column (NULL). With `ignore_conflicts`, a row that clashes with a unique key is not written
    (ON CONFLICT DO NOTHING, on PostgreSQL and SQLite alike). Returns the `returning` columns (attnames) of the
    rows written, or without `returning` how many rows were written.

    The SELECT is the queryset's own SQL, so the expressions are Django's and compile for either database. Rows
    are written in the queryset's order (its primary key unless it is ordered)."""
    from django.core.exceptions import EmptyResultSet
    from django.db.models import Value

    meta = model._meta
    given = {name: value for name, value in columns.items() if value is not None}
    # Defaults for the fields not named at all; a field named with None is left out of the INSERT (NULL).
    defaults = _with_defaults(model, [dict.fromkeys(columns)])[0]
    expressions = {
        **{
            name: value if hasattr(value, "resolve_expression") else Value(value, output_field=meta.get_field(name))
            for name, value in given.items()
        },
        **{
            name: Value(value, output_field=meta.get_field(name))
            for name, value in defaults.items()
            if name not in columns and value is not None
        },
    }
    fields = [meta.get_field(name) for name in expressions]
    aliases = {f"_insert_{n}": expression for n, expression in enumerate(expressions.values())}
    # Rows are written in the queryset's order, by primary key unless it names one: the new ids (and so the order
    # of an invoice's lines, or of log entries sharing a timestamp) follow the rows they were made from.
    select = queryset.order_by(*(queryset.query.order_by or ("pk",))).annotate(**aliases).values_list(*aliases)
    try:
        sql, params = select.query.sql_with_params()
    except EmptyResultSet:  # a filter no row can match (pk__in=[]): nothing to write
        return [] if returning else 0
    if " WHERE " not in sql:
        # SQLite reads "INSERT ... SELECT ... FROM a JOIN b ON ... ON CONFLICT" ambiguously without a WHERE.
        raise ValueError("insert_select needs a filtered queryset (the rows to make), not a whole table.")
    quote = connection.ops.quote_name
    statement = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) {sql}"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
        + (f" RETURNING {', '.join(quote(meta.get_field(name).column) for name in returning)}" if returning else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return [tuple(row) for row in cursor.fetchall()] if returning else cursor.rowcount


class _DecimalText(Func):
    """A decimal as text with a number of places ("5.00", or "751" with none), as str() of the Decimal rounded
    to those places gives it. The places are a number, or an expression (a currency's decimal places)."""

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="CAST(ROUND(%(expressions)s) AS text)", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite holds a decimal as a number ("5" or "5.5"): printed with the places. printf() reads NULL as 0:
        # a NULL stays NULL, as on PostgreSQL.
        value, value_params = compiler.compile(self.source_expressions[0])
        places, places_params = compiler.compile(self.source_expressions[1])
        return (
            f"CASE WHEN {value} IS NULL THEN NULL ELSE printf('%%.*f', {places}, {value}) END",
            [*value_params, *places_params, *value_params],
        )


def decimal_text(path: str, field: models.DecimalField, *, places: str | None = None) -> Func:
    """The decimal at `path` (a field of the queryset's model or across relations) as text, for JSON payloads
    made by the database: what str(Decimal) gives for a value read through `field`, or, with `places` (the path
    of an integer column, e.g. the currency's decimal places), for the value rounded to that many places."""
    from django.db.models import IntegerField, Value

    digits = F(places) if places else Value(field.decimal_places, output_field=IntegerField())
    return _DecimalText(F(path), digits)
