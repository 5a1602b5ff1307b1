"""Settings, read from the environment (see the README's configuration table)."""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_flag("DEBUG", True)

_DEVELOPMENT_SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY", _DEVELOPMENT_SECRET_KEY if DEBUG else "")
if not SECRET_KEY or (not DEBUG and SECRET_KEY == _DEVELOPMENT_SECRET_KEY):
    raise ImproperlyConfigured("Set SECRET_KEY: production settings refuse to start without one.")

ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver").split(",")
    if host.strip()
]

# Pages on these origins may open a WebSocket with the user's session cookie.
# Same-origin pages and clients sending no Origin (services) are always allowed.
WEBSOCKET_ALLOWED_ORIGINS = [
    origin.strip() for origin in os.environ.get("WEBSOCKET_ALLOWED_ORIGINS", "").split(",") if origin.strip()
]

GRAPHIQL = env_flag("GRAPHIQL", DEBUG)

# /metrics answers a Bearer METRICS_TOKEN, or clients on these networks.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = [
    network.strip()
    for network in os.environ.get("METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128").split(",")
    if network.strip()
]


def _trusted_networks(value: str) -> list[str]:
    """TRUSTED_PROXIES as networks, checked once, at start.

    uvicorn's ProxyHeadersMiddleware (api.asgi) and api.proxies both read
    them: an entry with host bits set (10.0.0.5/24) would be trusted by one
    and not the other, so it is refused, as is what is not an address.
    """
    networks = []
    for entry in filter(None, (part.strip() for part in value.split(","))):
        try:
            networks.append(str(ipaddress.ip_network(entry)))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"TRUSTED_PROXIES: {entry!r} is not an address or a network ({error}); "
                "write an address (10.0.0.5) or a network without host bits (10.0.0.0/24)."
            ) from None
    return networks


# Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed
# (api.asgi, api.proxies): the client's address (the login throttle, limits per
# address) and the scheme it used (is_secure(), CSRF's origin check). Headers
# from any other peer are ignored. /metrics never trusts a proxied request
# without its token.
TRUSTED_PROXIES = _trusted_networks(os.environ.get("TRUSTED_PROXIES", "127.0.0.1/32,::1/128"))

# One Content-Security-Policy for every HTML page that sets none
# (api.security_headers); 'self' covers same-origin ws:/wss: too (CSP 3).
# GraphiQL's stylesheet carries its fonts as data: URLs.
CONTENT_SECURITY_POLICY = os.environ.get(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "strawberry.django",
    "api",
    "submissions",
]

MIDDLEWARE = [
    # First: health checks call a process by its address, whatever ALLOWED_HOSTS says.
    "api.health.HealthChecksMiddleware",
    "api.security_headers.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into a 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "api.urls"
ASGI_APPLICATION = "api.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        # Subscriptions read snapshots on a long-lived thread: keep its
        # connection, and check it before use (close_old_connections).
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so two writers
    # queue up instead of deadlocking on a lock upgrade ("database is locked");
    # `timeout` is the busy timeout, in seconds, a writer waits for that lock.
    # WAL lets snapshot reads run beside a write, and with synchronous=NORMAL a
    # commit appends to the log without an fsync (durable against a crash of
    # the process, not of the machine): measured here, a change's commit went
    # from ~1.8 ms (rollback journal) to ~0.05 ms.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Threads that run service mutations (submissions.graphql.mutations), each
# with a database connection of its own: keep it within the database's
# connection limit per process. 0 runs them on each request's own thread.
# SQLite takes one writer at a time, so more threads only add hand-offs
# between them: measured, one thread took more mutations/s with a third of
# the p99 of eight.
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
SERVICE_THREADS = int(os.environ.get("SERVICE_THREADS", 1 if _SQLITE else 8))

# How many times a work request is handed to a worker: one that kills every
# worker that takes it (or keeps being given back) would otherwise go round
# for ever. Past it the request fails and its submission goes to ERROR.
WORK_MAX_ATTEMPTS = int(os.environ.get("WORK_MAX_ATTEMPTS", 5))

REDIS_URL = os.environ.get("REDIS_URL", "")
# Redis Sentinel: "host:port,host:port" and the master's name; used instead of REDIS_URL.
REDIS_SENTINELS = os.environ.get("REDIS_SENTINELS", "")
REDIS_SENTINEL_MASTER = os.environ.get("REDIS_SENTINEL_MASTER", "mymaster")
# Which channels-redis layer carries events between processes: "core" or "pubsub"
# (see the README's scaling section for the measurements behind the default).
CHANNEL_LAYER = os.environ.get("CHANNEL_LAYER", "core")
# Where the embedded Redis server listens when neither is set.
EMBEDDED_REDIS_SOCKET = os.environ.get("EMBEDDED_REDIS_SOCKET", str(BASE_DIR / "var" / "redis.sock"))

_LAYER_BACKENDS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
if CHANNEL_LAYER not in _LAYER_BACKENDS:
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be one of {', '.join(_LAYER_BACKENDS)}, not {CHANNEL_LAYER!r}.")
# Fail fast when Redis is unreachable instead of hanging a request: the
# change is committed anyway and subscribers catch up from a snapshot.
_REDIS_CONNECTION_OPTIONS = {"socket_connect_timeout": 2, "socket_keepalive": True}


def _redis_host() -> dict:
    if REDIS_SENTINELS:
        sentinels = [tuple(pair.rsplit(":", 1)) for pair in REDIS_SENTINELS.split(",") if pair.strip()]
        return {
            "sentinels": [(host, int(port)) for host, port in sentinels],
            "master_name": REDIS_SENTINEL_MASTER,
            **_REDIS_CONNECTION_OPTIONS,
        }
    return {"address": REDIS_URL, **_REDIS_CONNECTION_OPTIONS}


# One channel per process carries every event (live.listener), so the
# core layer needs room for bursts: it drops messages for a channel over
# `capacity` (default 100).
_CORE_LAYER_OPTIONS = {"capacity": 10_000, "expiry": 60}

if REDIS_URL or REDIS_SENTINELS:
    _options = _CORE_LAYER_OPTIONS if CHANNEL_LAYER == "core" else {}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": _LAYER_BACKENDS[CHANNEL_LAYER],
            "CONFIG": {"hosts": [_redis_host()], **_options},
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "api.embedded_redis.EmbeddedRedisChannelLayer",
            "CONFIG": {"socket_path": EMBEDDED_REDIS_SOCKET, **_CORE_LAYER_OPTIONS},
        }
    }

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Login throttling (django-axes, api.login_throttle): the sign-in page and the
# admin's. LOGIN_FAILURE_LIMIT failures per (username, client address), or
# LOGIN_FAILURE_LIMIT_PER_ADDRESS per address over all usernames (0: no such
# limit), within LOGIN_LOCKOUT_MINUTES pause that sign-in for as long,
# answered 429. A success clears its (username, address). API tokens are not
# counted. LOGIN_THROTTLE=false turns it off.
AUTHENTICATION_BACKENDS = [
    "api.login_throttle.LoginThrottleBackend",  # first: refuses locked-out clients
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env_flag("LOGIN_THROTTLE", True)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = int(os.environ.get("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 20))
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", 15)))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# A lockout lasts LOGIN_LOCKOUT_MINUTES from the last counted failure;
# attempts while locked out do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "api.login_throttle.LoginThrottleHandler"
AXES_CLIENT_IP_CALLABLE = "api.proxies.client_address"
AXES_LOCKOUT_CALLABLE = "api.login_throttle.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429

CSRF_TRUSTED_ORIGINS = [
    origin.strip() for origin in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if origin.strip()
]

# Behind a TLS-terminating proxy (TLS=true): secure cookies and HSTS. That a
# request came over HTTPS is read from X-Forwarded-Proto of TRUSTED_PROXIES
# only (api.asgi), never from any client's (no SECURE_PROXY_SSL_HEADER).
if env_flag("TLS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", 60 * 60 * 24 * 365))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

LOG_FORMAT = os.environ.get("LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "api.log_format.JsonFormatter"},
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs each step of every sign-in at INFO; its warnings
    # (a failure, a lockout, with the client masked) are what operators need.
    "loggers": {"axes": {"level": "WARNING"}},
}

# WebSocket limits (SECURITY.md): what one socket, one credential and one
# client address may cost the server.
_env_int = lambda name, default: int(os.environ.get(name, default))  # noqa: E731
_env_float = lambda name, default: float(os.environ.get(name, default))  # noqa: E731
# The graphql-ws reference server waits 3 s for connection_init; slow mobile links need a bit more.
WEBSOCKET_CONNECTION_INIT_SECONDS = _env_float("WEBSOCKET_CONNECTION_INIT_SECONDS", 10)
# One incoming message, in characters (a frame over it closes the socket with 4400).
WEBSOCKET_MAX_MESSAGE_LENGTH = _env_int("WEBSOCKET_MAX_MESSAGE_LENGTH", 256 * 1024)
# What a client may send: a burst, then a steady rate, in messages and in characters; past it, 4429.
WEBSOCKET_INBOUND_BURST_MESSAGES = _env_int("WEBSOCKET_INBOUND_BURST_MESSAGES", 500)
WEBSOCKET_INBOUND_MESSAGES_PER_SECOND = _env_float("WEBSOCKET_INBOUND_MESSAGES_PER_SECOND", 50)
WEBSOCKET_INBOUND_BURST_BYTES = _env_int("WEBSOCKET_INBOUND_BURST_BYTES", 4 * 1024 * 1024)
WEBSOCKET_INBOUND_BYTES_PER_SECOND = _env_int("WEBSOCKET_INBOUND_BYTES_PER_SECOND", 256 * 1024)
# Operations (subscriptions, queries, mutations) running at once on one connection.
WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION = _env_int("WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION", 100)
# Open connections per API token or session, per process; the excess is closed with 4429.
WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL = _env_int("WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL", 100)
# Connection attempts per client address in each window; the excess is refused before the handshake.
WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS = _env_int("WEBSOCKET_MAX_ATTEMPTS_PER_ADDRESS", 300)
WEBSOCKET_ATTEMPTS_WINDOW_SECONDS = _env_float("WEBSOCKET_ATTEMPTS_WINDOW_SECONDS", 10)
# How long a graphql-transport-ws client may stay two windows behind before it is closed with 4013.
WEBSOCKET_STALL_GRACE_SECONDS = _env_float("WEBSOCKET_STALL_GRACE_SECONDS", 15)
# The legacy protocol acknowledges nothing: what may be sent ahead of a nominal reading rate.
WEBSOCKET_LEGACY_SEND_BUFFER_BYTES = _env_int("WEBSOCKET_LEGACY_SEND_BUFFER_BYTES", 8 * 1024 * 1024)
WEBSOCKET_LEGACY_SEND_BYTES_PER_SECOND = _env_int("WEBSOCKET_LEGACY_SEND_BYTES_PER_SECOND", 256 * 1024)
# Open sockets' credentials are checked again this often (as HTTP's token cache expires).
WEBSOCKET_ACCESS_RECHECK_SECONDS = _env_float("WEBSOCKET_ACCESS_RECHECK_SECONDS", 60)
# Subscriptions over HTTP (live.http) count as WebSockets do against the limits
# per credential and per address, and are cut off after the same stall grace.
# An idle stream gets a heartbeat this often (proxies close silent responses).
HTTP_STREAM_HEARTBEAT_SECONDS = _env_float("HTTP_STREAM_HEARTBEAT_SECONDS", 10)
# Daphne's send never waits for the client: what may be sent ahead of a nominal reading rate.
HTTP_STREAM_SEND_BUFFER_BYTES = _env_int("HTTP_STREAM_SEND_BUFFER_BYTES", 8 * 1024 * 1024)
HTTP_STREAM_SEND_BYTES_PER_SECOND = _env_int("HTTP_STREAM_SEND_BYTES_PER_SECOND", 256 * 1024)

# Limits on GraphQL documents (api.limits), over HTTP and WebSocket alike. A
# document past one is refused with BAD_USER_INPUT before it runs; each is
# checked in time linear in the document, so refusing costs little.
# Length in characters, and tokens (comments counted apart): the parser stops there.
GRAPHQL_MAX_DOCUMENT_CHARS = int(os.environ.get("GRAPHQL_MAX_DOCUMENT_CHARS", 20_000))
GRAPHQL_MAX_TOKENS = int(os.environ.get("GRAPHQL_MAX_TOKENS", 2_000))
# Fields written in the document: graphql-core's validation is quadratic in them.
GRAPHQL_MAX_FIELDS = int(os.environ.get("GRAPHQL_MAX_FIELDS", 200))
# Fields with selections nested in one another (introspection not counted).
GRAPHQL_MAX_DEPTH = int(os.environ.get("GRAPHQL_MAX_DEPTH", 10))
# Aliases in the document, those in a fragment counted at each of its spreads.
GRAPHQL_MAX_ALIASES = int(os.environ.get("GRAPHQL_MAX_ALIASES", 30))
# `...Name` spreads written in the document.
GRAPHQL_MAX_FRAGMENT_SPREADS = int(os.environ.get("GRAPHQL_MAX_FRAGMENT_SPREADS", 50))
# Each list field costs its `first`/`limit` (or their default; 10 without one)
# times (1 + the cost of what it selects); other object fields cost 1 plus
# what they select, leaves nothing. The app's own documents cost ~100-5,100.
GRAPHQL_MAX_COST = int(os.environ.get("GRAPHQL_MAX_COST", 10_000))
