"""The ASGI application: Django for HTTP, GraphQL over WebSocket on /graphql/."""

import os
from datetime import timedelta

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "api.settings")
django_application = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402

from api.consumers import GraphQLWSConsumer  # noqa: E402
from api.hosts import AllowedHostsMiddleware  # noqa: E402
from api.schema import schema  # noqa: E402

graphql_websocket = GraphQLWSConsumer.as_asgi(
    schema=schema,
    # The session cookie authenticates browsers, so pages on other sites must
    # not open sockets with it; clients without an Origin (services) may.
    allowed_origins=settings.WEBSOCKET_ALLOWED_ORIGINS,
    # The consumer times connection_init out itself, on both protocols.
    connection_init_wait_timeout=timedelta(days=1),
    # Counted by our handlers (api.operations, api.legacy), whose error carries a code.
    max_subscriptions_per_connection=None,
)

websocket_routes = [re_path(r"^graphql/?$", graphql_websocket)]
if os.environ.get("BENCH_ENDPOINTS") == "1":
    # The benchmark's baselines (python -m bench); never set in production.
    from api.bench_consumers import bench_routes  # noqa: E402

    websocket_routes += bench_routes()

application = ProtocolTypeRouter(
    {
        # GraphiQL's scripts are served from here, so it works with no internet.
        "http": ASGIStaticFilesHandler(django_application),
        "websocket": AllowedHostsMiddleware(AuthMiddlewareStack(URLRouter(websocket_routes))),
    }
)
