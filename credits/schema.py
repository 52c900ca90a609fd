"""How the OpenAPI schema describes who may call what: API keys, staff sessions, anyone."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "credits.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "`Api-Key <key>`. Keys are created by staff in the admin (or "
                           "`manage.py create_api_key`), shown once, stored hashed, and carry a "
                           "scope: owner (one account), service or operator.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "credits.auth.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "A staff member's admin session (writes need the CSRF token)."}


class CreditsAutoSchema(AutoSchema):
    """Each operation's security from the permission its view applies to that method: public
    ones need nothing (a key may be sent, and a dead one is refused), key-only ones an API key,
    the operators' ones an API key or a staff session. drf-spectacular's own guess lists every
    authentication class on every operation, and "none" only for DRF's AllowAny itself."""

    def get_auth(self):
        from .auth import OperatorKeyOrStaff

        super().get_auth()  # registers the schemes' components
        permissions = self.view.get_permissions()
        if any(isinstance(permission, AllowAny) for permission in permissions):
            return [{}, {ApiKeyScheme.name: []}]
        if any(isinstance(permission, OperatorKeyOrStaff) for permission in permissions):
            return [{ApiKeyScheme.name: []}, {StaffSessionScheme.name: []}]
        return [{ApiKeyScheme.name: []}]
