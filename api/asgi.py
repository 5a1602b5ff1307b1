"""The ASGI application: Django for HTTP, GraphQL over WebSocket on /graphql/."""

import asyncio
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from api.hosts import AllowedHostsMiddleware  # noqa: E402
from api.proxies import resolving_forwarded_headers  # noqa: E402
from api.schema import schema  # noqa: E402
from api.token_requests import TokenRequests  # noqa: E402
from api.urls import graphql as graphql_view  # noqa: E402
from live.connection import GraphQLWebSocket  # noqa: E402
from submissions import events  # noqa: E402

# The product's only WebSocket route; the benchmark's baselines are served by bench.asgi, never from here.
websocket_routes = [re_path(r"^graphql/?$", GraphQLWebSocket(schema))]

# Behind the proxy, the client and the scheme (https, wss) are the ones it
# forwards, believed from TRUSTED_PROXIES only; here, so that every server
# (daphne, uvicorn, granian) reads them alike.
_routes = resolving_forwarded_headers(
    ProtocolTypeRouter(
        {
            # GraphiQL's scripts are served from here, so it works with no internet.
            # Token-carrying GraphQL POSTs (services) skip Django's middleware: api.token_requests.
            "http": TokenRequests(ASGIStaticFilesHandler(django_application), view=graphql_view, schema=schema),
            # The connection reads the session cookie itself, once, when it authenticates.
            "websocket": AllowedHostsMiddleware(URLRouter(websocket_routes)),
        }
    )
)


async def application(scope, receive, send):
    """The server's application; the changes its requests make are published from its own event loop."""
    events.publish_from(asyncio.get_running_loop())
    await _routes(scope, receive, send)
