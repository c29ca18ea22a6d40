"""One shape for every error the API answers:

    {"error": {"status": 404, "code": "not_found", "message": "Not found.", "fields": {...}}}

`code` is stable and machine-readable; `message` is for people; `fields` (only for bad input) maps each field to
its messages. A service's ValidationError is bad input too (400), with nothing changed."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _flatten(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _flatten(value)]
    return [str(detail)]


def api_exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = exception_handler(exc, context)
    if response is None:
        return None  # a fault of ours: Django's 500, logged
    error = {"status": response.status_code, "code": "error", "message": ""}
    if isinstance(exc, exceptions.ValidationError):
        error["code"] = "invalid"
        detail = exc.detail
        if isinstance(detail, dict):
            error["fields"] = {name: _flatten(value) for name, value in detail.items()}
        messages = _flatten(detail)
        error["message"] = messages[0] if len(messages) == 1 else "The request has invalid values: see fields."
    else:
        detail = getattr(exc, "detail", "")
        error["code"] = getattr(detail, "code", None) or exc.default_code
        error["message"] = " ".join(_flatten(detail))
    response.data = {"error": error}
    return response


def error_response(code: str, message: str, http_status: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"error": {"status": http_status, "code": code, "message": message}}, status=http_status)
