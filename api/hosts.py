"""ALLOWED_HOSTS for WebSockets: Django checks the Host of HTTP requests only.

A page on another site that makes the browser resolve its own name to this
server (DNS rebinding) is same-origin with itself, so the Origin check lets
it through; only the Host shows the name it used. Django answers such HTTP
requests 400; this refuses such WebSockets before the handshake (servers
answer HTTP 403).
"""

from django.conf import settings
from django.http.request import split_domain_port, validate_host

from api import metrics


def _raw_host(scope) -> str | None:
    """The host as HttpRequest._get_raw_host reads it: X-Forwarded-Host (when
    trusted), else Host, else the server's own name and port."""
    headers: dict[bytes, list[bytes]] = {}
    for name, value in scope.get("headers", ()):
        headers.setdefault(name.lower(), []).append(value)
    if settings.USE_X_FORWARDED_HOST and b"x-forwarded-host" in headers:
        values = headers[b"x-forwarded-host"]
    elif b"host" in headers:
        values = headers[b"host"]
    elif scope.get("server"):
        name, port = scope["server"][0], scope["server"][1]
        default_port = 443 if scope.get("scheme") == "wss" else 80
        return name if port in (None, default_port) else f"{name}:{port}"
    else:
        # No Host and no server address: the scope did not come over a
        # network (channels.testing's in-process communicator).
        return None
    # Repeated headers join with a comma, as Django's ASGIRequest joins them,
    # which no host pattern matches.
    return ",".join(value.decode("latin1") for value in values)


def host_allowed(scope) -> bool:
    host = _raw_host(scope)
    if host is None:
        return True
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]  # as HttpRequest.get_host does
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, allowed_hosts)


class AllowedHostsMiddleware:
    """Refuses a WebSocket whose Host is not in ALLOWED_HOSTS, before the handshake."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or host_allowed(scope):
            return await self.app(scope, receive, send)
        metrics.websockets_rejected.labels("host").inc()
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.close"})  # before accept: HTTP 403
