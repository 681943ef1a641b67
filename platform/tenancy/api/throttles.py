"""Throttles for credential endpoints. DRF keeps the counters in the default cache (Redis), so
the limit holds across every web process."""

from rest_framework.throttling import SimpleRateThrottle


class LoginIpThrottle(SimpleRateThrottle):
    """Login attempts per client address."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "login-ip", "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    """Login attempts per username, whatever the address (slows distributed guessing)."""

    scope = "login"

    def get_cache_key(self, request, view):
        username = str(request.data.get("username", "")).strip().lower()[:150]
        if not username:
            return None
        return self.cache_format % {"scope": "login-user", "ident": username}


class PasswordResetThrottle(SimpleRateThrottle):
    """Reset requests and token redemptions per client address."""

    scope = "password_reset"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "reset", "ident": self.get_ident(request)}
