"""List pages that stay fast on tables with millions of rows: a bounded count instead of COUNT(*), no full count,
no facet counts. Here, in the bottom layer, so that every app's admin (notifications' own included) can use it."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.main import PAGE_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


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

    Both cost one query, so a list page issues the same number of queries whatever the table holds.

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
