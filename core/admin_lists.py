"""List pages that stay fast on tables with millions of rows: a bounded count instead of COUNT(*), no full count,
no facet counts, and sidebar filters with a text box instead of a list that reads a whole table. Here, in the
bottom layer, so that every app's admin (notifications' own included) can use them."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property

from core.inputs import id_parse


class BoundedCountPaginator(Paginator):
    """A paginator that never counts a big table in full.

    The changelist needs a count for its page links, and `SELECT COUNT(*)` over a million invoices reads the
    whole table (or index) on every page view. So the count is one of:

    - **an estimate**, for an unfiltered list on PostgreSQL whose table the planner says is big (at least
      `estimate_from` rows): `pg_class.reltuples`, kept up to date by autovacuum's ANALYZE. It can be off by the
      rows written since the last ANALYZE, so the last pages may come out short or empty; shown as "about N".
    - **a bounded count** otherwise (filtered lists, small tables, SQLite): `COUNT(*)` over a `LIMIT` subquery
      that stops at a cap a few pages past the page asked for (`pages_ahead`, at least `minimum_cap` rows).
      Under the cap the count is exact; at the cap it is shown as "more than N", and the next pages become
      reachable as the admin pages forward. Reading stops at the cap, so the cost is bounded by the cap, not
      by the table.

    On PostgreSQL the estimate is looked up first: a small table then costs two queries (the lookup and the
    bounded count), a big one one. Either way the number of queries does not grow with the table.

    The page asked for comes from the URL (`?p=`), so it is clamped to `deepest_page` before it sets the cap: a
    page of 10^17 would otherwise put a LIMIT past what the database's integers hold (a 500), and a deep page
    would count as many rows as it names. A page past the count is refused by Django's changelist, which sends
    the admin to the list's first page.
    """

    estimate_from = 100_000
    minimum_cap = 1_000
    pages_ahead = 10
    deepest_page = 10_000

    def __init__(self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, requested_page=1, **kwargs):
        super().__init__(object_list, per_page, orphans, allow_empty_first_page, **kwargs)
        self.requested_page = min(max(1, requested_page), self.deepest_page)
        self.count_is_exact = True
        self.count_is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        estimate = self._planner_estimate(queryset)
        if estimate is not None:
            self.count_is_exact, self.count_is_estimate = False, True
            return estimate
        cap = max(self.minimum_cap, (self.requested_page + self.pages_ahead) * int(self.per_page))
        counted = queryset.order_by()[: cap + 1].count()
        if counted > cap:
            self.count_is_exact = False
            return cap
        return counted

    @property
    def count_label(self) -> str:
        """The count as the page shows it: "about 1,000,000", "more than 1,000" or "12"."""
        if self.count_is_estimate:
            return f"about {self.count:,}"
        if not self.count_is_exact:
            return f"more than {self.count:,}"
        return str(self.count)

    def _planner_estimate(self, queryset: QuerySet) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql" or queryset.query.where or queryset.query.distinct:
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
                [connection.ops.quote_name(queryset.model._meta.db_table)],
            )
            row = cursor.fetchone()
        # -1 (never analyzed) and small tables are counted: exact and cheap there.
        if row is None or row[0] < self.estimate_from:
            return None
        return int(row[0])


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist for a table that grows without bound: a bounded count instead of COUNT(*), no full count
    next to the search box and no facet counts (each would be a COUNT over the table)."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        try:
            requested_page = int(request.GET.get(PAGE_VAR, 1))
        except ValueError:  # "abc", "1e9", or more digits than int() takes: Django's changelist shows page 1
            requested_page = 1
        return self.paginator(queryset, per_page, orphans, allow_empty_first_page, requested_page=requested_page)


class InputFilter(admin.ListFilter):
    """A sidebar filter with a text box instead of a list of links, for a column with too many values to list
    (a client among 100k). Subclasses set `title`, `parameter_name` and `lookup`, and may override `clean`."""

    template = "admin/input_filter.html"
    parameter_name: str
    lookup: str
    placeholder = ""

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.value = ""
        if self.parameter_name in params:
            values = params.pop(self.parameter_name)
            self.value = (values[-1] if isinstance(values, list) else values).strip()
            self.used_parameters[self.parameter_name] = self.value

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [self.parameter_name]

    def clean(self, value: str):
        """The value to filter with, or None when the input cannot match anything."""
        return value

    def describe(self, cleaned) -> str:
        """A line under the box saying what the list is filtered by."""
        return ""

    def queryset(self, request, queryset):
        if not self.value:
            return queryset
        cleaned = self.clean(self.value)
        if cleaned is None:
            return queryset.none()
        return queryset.filter(**{self.lookup: cleaned})

    def choices(self, changelist):
        cleaned = self.clean(self.value) if self.value else None
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value,
            "placeholder": self.placeholder,
            "hidden_params": [
                (name, value) for name, value in changelist.params.items() if name not in (self.parameter_name, "p")
            ],
            "reset_query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "description": (self.describe(cleaned) if cleaned is not None else "No match.") if self.value else "",
        }


class PositiveIdFilter(InputFilter):
    """An InputFilter on an id column: anything that is not a positive whole number matches nothing. With
    `target` (the model the id names) the line under the box names the row, or says there is none."""

    target = None

    def clean(self, value: str):
        return id_parse(value.lstrip("#"))  # "²" and ids beyond the database's range match nothing

    def describe(self, cleaned: int) -> str:
        if self.target is None:
            return ""
        row = self.target.objects.filter(pk=cleaned).first()
        return str(row) if row else f"No {self.target._meta.verbose_name} #{cleaned}."
