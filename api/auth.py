"""How the REST API knows its caller: HTTP Basic with an API credential's identifier and secret (`curl -u
IDENTIFIER:SECRET`), and what the credential may do in the area of the view it calls."""

from __future__ import annotations

import base64
import binascii

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission

from api.models import ApiCredential, Grant
from api.services import ApiAuthFailed, api_credential_authenticate
from core.requests import client_address


class CredentialAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None  # no credential: NotAuthenticated (401) when the view needs one
        try:
            identifier, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise exceptions.AuthenticationFailed("The Authorization header is not Basic IDENTIFIER:SECRET.") from None
        if not sep:
            raise exceptions.AuthenticationFailed("The Authorization header is not Basic IDENTIFIER:SECRET.")
        try:
            credential = api_credential_authenticate(
                identifier=identifier, secret=secret, address=client_address(request._request)
            )
        except ApiAuthFailed as refused:
            raise exceptions.AuthenticationFailed(str(refused)) from None
        return credential.user, credential

    def authenticate_header(self, request) -> str:
        return 'Basic realm="api"'


class AreaGranted(BasePermission):
    """The view's `area` is granted to the credential: read for GET/HEAD/OPTIONS, actions for the rest."""

    message = "This API credential is not allowed to do that in this area."

    def has_permission(self, request, view) -> bool:
        credential = request.auth
        if not isinstance(credential, ApiCredential):
            return False
        grant = credential.grant(view.area)
        if request.method in SAFE_METHODS:
            return grant in (Grant.READ, Grant.ACTIONS)
        return grant == Grant.ACTIONS
