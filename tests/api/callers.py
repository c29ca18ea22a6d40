"""A caller of the REST API with one credential, for the API tests."""

import base64

from django.test import Client as HttpClient


def basic_header(identifier: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{identifier}:{secret}".encode()).decode()


class Api:
    """A caller with one credential: `get(path, **query)` answers (status, parsed JSON)."""

    def __init__(self, identifier: str, secret: str, address: str = "127.0.0.1"):
        self.http = HttpClient(raise_request_exception=False, REMOTE_ADDR=address)
        self.header = basic_header(identifier, secret)

    def get(self, path: str, **query):
        response = self.http.get(path, query, HTTP_AUTHORIZATION=self.header)
        return response.status_code, response.json()
