"""Who the client is when a reverse proxy may stand in between.

The shipped nginx (docker/nginx.conf) connects to the server from its own
address and sets X-Forwarded-For to the client's. The application (api.asgi,
through `resolving_forwarded_headers`) puts that address in the scope's
client when the peer is in TRUSTED_PROXIES, under every server (uvicorn's own
proxy-header handling is off, api.uvicorn_server), and marks the scope: its
client is then taken as it is. A request that did not pass there (Django's
test client, another ASGI application) still carries the proxy's address,
which these functions resolve as uvicorn's middleware does. So loopback does
not mean "this machine".
"""

import ipaddress

from django.conf import settings
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

# The scope key that says its client was resolved from the proxy's headers already.
CLIENT_RESOLVED = "api.proxies.client_resolved"

# Headers a proxy adds; a request carrying any of them came through one.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def in_networks(address: str, networks: list[str]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in ipaddress.ip_network(network) for network in networks)


def resolving_forwarded_headers(app):
    """`app` behind uvicorn's ProxyHeadersMiddleware with TRUSTED_PROXIES: the client and scheme a
    trusted proxy forwards; the scopes `app` gets are marked as resolved."""

    async def resolved(scope, receive, send):
        scope[CLIENT_RESOLVED] = True
        await app(scope, receive, send)

    return ProxyHeadersMiddleware(resolved, trusted_hosts=settings.TRUSTED_PROXIES)


def is_proxied(request) -> bool:
    """Whether the request came through a proxy (or claims to: then it is not a local request either)."""
    return any(request.META.get(header) for header in PROXY_HEADERS)


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or, when that is a trusted proxy's, the
    last address in X-Forwarded-For that is not a trusted proxy's (the one they saw).

    Entries further left were written by the client and prove nothing.
    A request that came through api.asgi has its client resolved already.
    Used by the login throttle (AXES_CLIENT_IP_CALLABLE).
    """
    remote = request.META.get("REMOTE_ADDR", "")
    if getattr(request, "scope", {}).get(CLIENT_RESOLVED):
        return _client(remote, "")
    return _client(remote, request.META.get("HTTP_X_FORWARDED_FOR", ""))


def scope_client_address(scope) -> str | None:
    """client_address for an ASGI scope (a WebSocket's); None when it came over no network."""
    client = scope.get("client")
    if not client:
        return None
    if scope.get(CLIENT_RESOLVED):
        return _client(str(client[0]), "")
    forwarded = b",".join(value for name, value in scope.get("headers", ()) if name.lower() == b"x-forwarded-for")
    return _client(str(client[0]), forwarded.decode("latin1"))


def _client(remote: str, forwarded: str) -> str | None:
    if forwarded and in_networks(remote, settings.TRUSTED_PROXIES):
        # As uvicorn's middleware: each proxy appends the peer it saw, so the
        # client is the last entry that is not a trusted proxy's.
        entries = [str(entry) for entry in map(_ip, forwarded.split(",")) if entry is not None]
        for entry in reversed(entries):
            if not in_networks(entry, settings.TRUSTED_PROXIES):
                return entry
        if entries:
            return entries[0]  # proxies all the way: the first is the client
    ip = _ip(remote)
    return str(ip) if ip is not None else (remote or None)
