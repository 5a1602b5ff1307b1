"""A WebSocket's Host is checked against ALLOWED_HOSTS as Django checks HTTP requests'."""

import pytest
from channels.testing import WebsocketCommunicator
from prometheus_client import REGISTRY

from api.asgi import application
from api.hosts import host_allowed

pytestmark = pytest.mark.django_db(transaction=True)

PROTOCOL = "graphql-transport-ws"


def rejected_for_host() -> float:
    return REGISTRY.get_sample_value("websocket_connections_rejected_total", {"reason": "host"}) or 0.0


def scope(*headers: tuple[bytes, bytes], server=("127.0.0.1", 8000), scheme="ws") -> dict:
    return {"type": "websocket", "headers": list(headers), "server": server, "scheme": scheme}


async def open_socket(host: bytes):
    communicator = WebsocketCommunicator(application, "/graphql/", subprotocols=[PROTOCOL], headers=[(b"host", host)])
    connected, detail = await communicator.connect()
    await communicator.disconnect()
    return connected, detail


async def test_a_websocket_for_a_host_outside_allowed_hosts_is_refused_before_the_handshake(settings):
    settings.ALLOWED_HOSTS = ["status.example.org"]
    before = rejected_for_host()
    connected, _code = await open_socket(b"rebound.example.net")
    assert not connected
    assert rejected_for_host() == before + 1


async def test_a_websocket_for_an_allowed_host_is_accepted_with_or_without_a_port(settings):
    settings.ALLOWED_HOSTS = ["status.example.org"]
    assert await open_socket(b"status.example.org") == (True, PROTOCOL)
    assert await open_socket(b"Status.Example.org:8443") == (True, PROTOCOL)


@pytest.mark.parametrize(
    "allowed, host, expected",
    [
        ([".example.org"], b"status.example.org", True),
        ([".example.org"], b"example.org", True),
        ([".example.org"], b"example.org.evil.net", False),
        (["*"], b"anything.example", True),
        (["127.0.0.1"], b"127.0.0.1:8000", True),
        (["[::1]"], b"[::1]:8000", True),
        (["127.0.0.1"], b"127.0.0.1@evil.net", False),
        (["127.0.0.1"], b"", False),
    ],
)
def test_patterns_match_as_django_matches_them(settings, allowed, host, expected):
    settings.ALLOWED_HOSTS = allowed
    assert host_allowed(scope((b"host", host))) is expected


def test_two_host_headers_are_refused(settings):
    settings.ALLOWED_HOSTS = ["status.example.org"]
    assert not host_allowed(scope((b"host", b"status.example.org"), (b"host", b"status.example.org")))


def test_with_debug_and_no_allowed_hosts_only_localhost_is_allowed(settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []
    assert host_allowed(scope((b"host", b"localhost:8000")))
    assert host_allowed(scope((b"host", b"app.localhost")))
    assert host_allowed(scope((b"host", b"[::1]:8000")))
    assert not host_allowed(scope((b"host", b"rebound.example.net")))
    settings.DEBUG = False
    assert not host_allowed(scope((b"host", b"localhost")))


def test_x_forwarded_host_counts_only_when_django_is_told_to_trust_it(settings):
    settings.ALLOWED_HOSTS = ["status.example.org"]
    forwarded = scope((b"host", b"status.example.org"), (b"x-forwarded-host", b"rebound.example.net"))
    assert host_allowed(forwarded)
    settings.USE_X_FORWARDED_HOST = True
    assert not host_allowed(forwarded)


def test_without_a_host_header_the_servers_own_address_is_checked(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    assert host_allowed(scope(server=("127.0.0.1", 8000)))
    assert not host_allowed(scope(server=("10.0.0.5", 8000)))


async def test_http_is_left_to_django(settings):
    """The middleware wraps only the websocket branch; Django itself answers HTTP 400."""
    from django.test import AsyncClient

    settings.ALLOWED_HOSTS = ["status.example.org"]
    response = await AsyncClient().get("/accounts/login/", headers={"Host": "rebound.example.net"})
    assert response.status_code == 400
