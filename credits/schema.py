"""How the OpenAPI schema describes our authentication: API keys and staff sessions."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
