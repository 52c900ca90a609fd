"""How the OpenAPI schema describes who may call what: API keys, owner tokens (wallet sign-in),
staff sessions, anyone."""
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


class OwnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "credits.auth.OwnerTokenAuthentication"
    name = "OwnerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http", "scheme": "bearer",
            "description": "`Bearer <token>`: the owner token of a wallet sign-in (Sign-In with "
                           "Ethereum: `POST /api/v1/auth/nonce`, then `POST /api/v1/auth/siwe` "
                           "with the signed message). It acts as an owner API key of the "
                           "signing address's account until it expires "
                           "(`SIWE_TOKEN_TTL_SECONDS`) or `POST /api/v1/auth/logout` ends it.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "credits.auth.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid",
                "description": "A staff member's admin session (writes need the CSRF token)."}


class CreditsAutoSchema(AutoSchema):
    """Each operation's security from the permission its view applies to that method: public
    ones need nothing (a key or token may be sent, and a dead one is refused), owner ones an
    owner key or token, the operators' ones an API key or a staff session, account reads (when
    private) any of them, the rest an API key. drf-spectacular's own guess lists every
    authentication class on every operation, and "none" only for DRF's AllowAny itself."""

    def get_auth(self):
        from .api.common import AccountReader
        from .auth import OperatorKeyOrStaff, OwnerKey, OwnerTokenOnly

        super().get_auth()  # registers the schemes' components
        api_key, token, staff = ({ApiKeyScheme.name: []}, {OwnerTokenScheme.name: []},
                                 {StaffSessionScheme.name: []})
        permissions = self.view.get_permissions()
        if any(isinstance(permission, AllowAny) for permission in permissions):
            return [{}, api_key, token]
        if any(isinstance(permission, AccountReader) for permission in permissions):
            return [api_key, token, staff]
        if any(isinstance(permission, OperatorKeyOrStaff) for permission in permissions):
            return [api_key, staff]
        if any(isinstance(permission, OwnerTokenOnly) for permission in permissions):
            return [token]
        if any(isinstance(permission, OwnerKey) for permission in permissions):
            return [api_key, token]
        return [api_key]
