"""The benchmark's server application: the product's (api.asgi) plus the baselines (bench.baselines).

    python -m api.servers daphne --application bench.asgi:application

The benchmark starts its servers with it (bench.servers). The product's own
application and URL configuration route no bench path, whatever the
environment; the Docker image holds neither this module nor the baselines.
"""

from channels.auth import AuthMiddlewareStack

from api.asgi import application as product_application  # before the baselines: it sets Django up
from api.hosts import AllowedHostsMiddleware
from bench.baselines import ROUTES

# Wrapped as the product's WebSocket routes are, so that only the consumer differs between variants.
_routes = {
    (kind, path): AllowedHostsMiddleware(AuthMiddlewareStack(app)) if kind == "websocket" else app
    for (kind, path), app in ROUTES.items()
}


async def application(scope, receive, send):
    """A baseline's path goes to the baseline; everything else to the product."""
    baseline = _routes.get((scope["type"], scope.get("path", "").rstrip("/")))
    return await (baseline or product_application)(scope, receive, send)
