"""Client area: the client's email history. Every email is found through the logged-in client, so another
client's email is a 404."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.requests import client_of
from notifications.emails.history import client_email, client_sent_emails

EMAILS_PER_PAGE = 25
# The HTML part is the template's, which staff edit: the page is sandboxed (an opaque origin, no scripts, no forms,
# no cookies of the portal to read), loads nothing from anywhere and cannot be framed. Stricter than the client
# area's policy, which the middleware gives every other page (it keeps one the view set).
EMAIL_HTML_POLICY = (
    "sandbox; default-src 'none'; img-src data:; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _email_of(request: HttpRequest, email_id: int):
    email = client_email(client_of(request).pk, email_id)
    if email is None:
        raise Http404("No such email.")
    return email


@login_required
def email_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(client_sent_emails(client_of(request).pk), EMAILS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "clientarea/email_list.html", {"page": page})


@login_required
def email_detail(request: HttpRequest, email_id: int) -> HttpResponse:
    return render(request, "clientarea/email_detail.html", {"email": _email_of(request, email_id)})


@login_required
def email_html(request: HttpRequest, email_id: int) -> HttpResponse:
    """The HTML part as it was sent, on a sandboxed page of its own (EMAIL_HTML_POLICY): nothing inline runs, not
    even a style, nothing loads from elsewhere, and it runs in no origin of ours."""
    response = HttpResponse(_email_of(request, email_id).body_html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = EMAIL_HTML_POLICY
    return response
