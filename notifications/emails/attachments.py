"""Attachments by reference: an email stores {"kind": ..., ...ids} and the app that owns the kind registers a
renderer at ready() (billing: "invoice_pdf"), since notifications may not import the apps above it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mimetype: str


AttachmentRenderer = Callable[[dict[str, Any]], Attachment]

_renderers: dict[str, AttachmentRenderer] = {}


class UnknownAttachment(Exception):
    """An email names an attachment kind no app registered: it fails instead of going out without it."""


def attachment_renderer(kind: str) -> Callable[[AttachmentRenderer], AttachmentRenderer]:
    """Decorator: `renderer(reference)` returns the Attachment an email's reference of this kind stands for."""

    def decorator(renderer: AttachmentRenderer) -> AttachmentRenderer:
        _renderers[kind] = renderer
        return renderer

    return decorator


def attachments_render(references: list[dict[str, Any]]) -> list[Attachment]:
    rendered = []
    for reference in references:
        renderer = _renderers.get(reference.get("kind", ""))
        if renderer is None:
            raise UnknownAttachment(f"No renderer for attachments of kind {reference.get('kind')!r}.")
        rendered.append(renderer(reference))
    return rendered
