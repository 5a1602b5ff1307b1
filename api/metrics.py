"""Prometheus metrics of this process, at /metrics, for a token or an allowed network (not through a proxy)."""

import secrets

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from api.auth import bearer_token
from api.proxies import in_networks, is_proxied

websockets_open = Gauge("websocket_connections_open", "WebSocket connections open in this process.")
websockets_rejected = Counter(
    "websocket_connections_rejected_total", "WebSocket connections refused, by reason.", ["reason"]
)
websockets_closed = Counter(
    "websocket_connections_closed_by_server_total",
    "Open WebSockets the server closed for a limit or revoked access, by reason.",
    ["reason"],
)
http_streams_open = Gauge(
    "http_subscription_streams_open", "Subscriptions over HTTP (multipart, SSE) open in this process."
)
http_streams_closed = Counter(
    "http_subscription_streams_closed_by_server_total",
    "Subscriptions over HTTP the server ended early (too slow, revoked access, shutdown), by reason.",
    ["reason"],
)


def _allowed(request) -> bool:
    token = bearer_token(request.headers.get("Authorization"))
    if settings.METRICS_TOKEN and token is not None:
        return secrets.compare_digest(token, settings.METRICS_TOKEN)
    # Behind a proxy on the same machine REMOTE_ADDR is loopback for every
    # client (or, with the server's proxy-header handling, whatever the
    # client put in X-Forwarded-For), so a proxied request needs the token.
    if is_proxied(request):
        return False
    return in_networks(request.META.get("REMOTE_ADDR", ""), settings.METRICS_ALLOWED_NETWORKS)


def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden(
            "Metrics need the metrics token, or a request from an allowed network that is not proxied.\n"
        )
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
