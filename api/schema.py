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
