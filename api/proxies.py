"""Who the client is when a reverse proxy may stand in between.

The shipped nginx (docker/nginx.conf) connects to the server from its own
address and sets X-Forwarded-For to the client's. The application (api.asgi)
puts that address in the scope's client when the peer is in TRUSTED_PROXIES,
under every server (uvicorn's own proxy-header handling is off,
api.uvicorn_server); a request that did not pass there (Django's test
client, another ASGI application) still carries the proxy's address, which
these functions resolve the same way. So loopback does not mean "this
machine".
"""

import ipaddress

from django.conf import settings

# Headers a proxy adds; a request carrying any of them came through one.
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def in_networks(address: str, networks: list[str]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def is_proxied(request) -> bool:
    """Whether the request came through a proxy (or claims to: then it is not a local request either)."""
    return any(request.META.get(header) for header in PROXY_HEADERS)


def client_address(request) -> str | None:
    """The client's address: REMOTE_ADDR, or, when that is a trusted proxy's, the
    address the proxy appended last to X-Forwarded-For (the one it saw).

    Entries further left were written by the client and prove nothing.
    Used by the login throttle (AXES_CLIENT_IP_CALLABLE).
    """
    return _client(request.META.get("REMOTE_ADDR", ""), request.META.get("HTTP_X_FORWARDED_FOR", ""))


def scope_client_address(scope) -> str | None:
    """client_address for an ASGI scope (a WebSocket's); None when it came over no network."""
    client = scope.get("client")
    if not client:
        return None
    forwarded = b",".join(value for name, value in scope.get("headers", ()) if name.lower() == b"x-forwarded-for")
    return _client(str(client[0]), forwarded.decode("latin1"))


def _client(remote: str, forwarded: str) -> str | None:
    if forwarded and in_networks(remote, settings.TRUSTED_PROXIES):
        last = _ip(forwarded.split(",")[-1])
        if last is not None:
            return str(last)
    ip = _ip(remote)
    return str(ip) if ip is not None else (remote or None)
