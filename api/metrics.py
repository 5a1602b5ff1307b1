"""Prometheus metrics of this process, at /metrics, for a token or an allowed network."""

import ipaddress
import secrets

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from api.auth import bearer_token

websockets_open = Gauge("websocket_connections_open", "WebSocket connections open in this process.")
websockets_rejected = Counter(
    "websocket_connections_rejected_total", "WebSocket connections refused, by reason.", ["reason"]
)


def _allowed(request) -> bool:
    token = bearer_token(request.headers.get("Authorization"))
    if settings.METRICS_TOKEN and token is not None:
        return secrets.compare_digest(token, settings.METRICS_TOKEN)
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.METRICS_ALLOWED_NETWORKS)


def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("Metrics need the metrics token or an allowed network.\n")
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
