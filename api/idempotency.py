"""Idempotency-Key on the API's POSTs (docs/API.md): the first request's answer is stored and replayed, for 24
hours, to a request with the same key and the same method, path and body; the same key with another request is
refused with a 422; a request arriving while the first is still being answered gets a 409 and may retry.

Exactly once by the database: the key's row is inserted (unique per credential and key) and committed before the
work starts, so of twenty requests at once one does the work. The work and the stored answer commit together, so
a request that died half-way left no effect, and its row (still unanswered after ABANDONED_AFTER) is taken over.
An answer is stored when the handler returns one below 500; a refusal it raises (bad input) leaves nothing, so the
same key may be sent again once the request is mended."""

from __future__ import annotations

import datetime
import functools
import hashlib

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response

from api.errors import error_response
from api.models import IdempotentRequest

KEPT_FOR = datetime.timedelta(hours=24)
ABANDONED_AFTER = datetime.timedelta(minutes=5)
KEY_MAX = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def _fingerprint(request) -> str:
    return hashlib.sha256(b"\n".join([request.method.encode(), request.path.encode(), request.body])).hexdigest()


def _claim(credential, key: str, fingerprint: str) -> IdempotentRequest | Response:
    """The row this request answers under, or the answer to give instead (a replay, a 409, a 422)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            return IdempotentRequest.objects.create(credential=credential, key=key, fingerprint=fingerprint)
    except IntegrityError:
        pass
    with transaction.atomic():
        earlier = IdempotentRequest.objects.select_for_update().get(credential=credential, key=key)
        stale = now - earlier.created_at > KEPT_FOR
        abandoned = earlier.status_code is None and now - earlier.created_at > ABANDONED_AFTER
        if stale or abandoned:  # a new request under an old key, or one whose first try left nothing
            earlier.fingerprint, earlier.created_at, earlier.status_code, earlier.response = (
                fingerprint,
                now,
                None,
                None,
            )
            earlier.save()
            return earlier
    if earlier.fingerprint != fingerprint:
        return error_response(
            "idempotency_key_reused",
            "This Idempotency-Key was used with another request in the last 24 hours: use a new key.",
            status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if earlier.status_code is None:
        return error_response(
            "idempotency_key_in_use",
            "The first request with this Idempotency-Key is still being answered: retry in a moment.",
            status.HTTP_409_CONFLICT,
        )
    replay = Response(earlier.response, status=earlier.status_code)
    replay[REPLAYED_HEADER] = "true"
    return replay


def idempotent(handler):
    """For a POST handler of an API view: honours an Idempotency-Key header when the request has one."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return handler(view, request, *args, **kwargs)
        key = key.strip()
        if not key or len(key) > KEY_MAX or not key.isprintable():
            return error_response("invalid", f"Give an Idempotency-Key of 1 to {KEY_MAX} printable characters.")
        claimed = _claim(request.auth, key, _fingerprint(request))
        if isinstance(claimed, Response):
            return claimed
        try:
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                if response.status_code < 500:
                    IdempotentRequest.objects.filter(pk=claimed.pk).update(
                        status_code=response.status_code, response=response.data
                    )
                    return response
                transaction.set_rollback(True)
        except Exception:
            _free(claimed)  # raised (a refusal DRF words, or a fault): nothing committed, the key may be used again
            raise
        _free(claimed)
        return response

    return wrapper


def _free(claimed: IdempotentRequest) -> None:
    IdempotentRequest.objects.filter(pk=claimed.pk, status_code__isnull=True).delete()
