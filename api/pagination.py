"""Cursor pagination for the API's lists: stable under inserts, and a page costs the same deep in a large table
(no OFFSET, no COUNT)."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 500
