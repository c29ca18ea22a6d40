"""The OpenAPI document's word on our authentication: HTTP Basic with an API credential."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CredentialAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.CredentialAuthentication"
    name = "apiCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "basic",
            "description": "An API credential's identifier as the user name and its secret as the password.",
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string", "description": "Stable and machine-readable: invalid, not_found, ..."},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "For invalid input: each field's messages.",
                },
            },
        }
    },
}
ERRORS = {
    "400": "Invalid input (a filter, a value): `fields` names each.",
    "401": "No credential, or one that is wrong, switched off or used from an address it does not allow.",
    "403": "The credential's grant for this area does not allow it.",
    "404": "No such object (or another client's, for a client-scoped credential).",
    "429": "Over the credential's rate limit: retry after the seconds in Retry-After.",
}


def add_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every API operation may answer the one error shape."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERRORS.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
