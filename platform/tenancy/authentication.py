"""DRF authentication for merchant systems: `Authorization: Api-Key sy_<prefix>.<secret>`."""

from rest_framework import authentication, exceptions

from tenancy.services.api_keys import api_key_authenticate

KEYWORD = "Api-Key"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Authenticate a merchant system by its API key; `request.auth` is the ApiKey.

    `request.user` stays anonymous: the principal (tenancy.principals) is built from the key and
    is scoped to the key's merchant. A malformed, unknown, expired or revoked key is refused
    (`authentication_failed`; 403 while session authentication is listed first); no
    Authorization header at all lets the next authentication class try.
    """

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw = header.partition(" ")
        if keyword != KEYWORD:
            return None
        key = api_key_authenticate(raw_key=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        from django.contrib.auth.models import AnonymousUser

        return AnonymousUser(), key

    def authenticate_header(self, request) -> str:
        return KEYWORD
