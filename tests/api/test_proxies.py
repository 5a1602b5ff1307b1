"""Who the client is behind the shipped proxy, for HTTP requests and WebSocket scopes alike."""

import pytest

from api.proxies import scope_client_address


def scope(client, forwarded=None):
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "websocket", "client": client, "headers": headers}


@pytest.mark.parametrize(
    ("client", "forwarded", "address"),
    [
        (("203.0.113.7", 5000), None, "203.0.113.7"),
        (("127.0.0.1", 5000), "203.0.113.7", "203.0.113.7"),
        (("127.0.0.1", 5000), "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        (("203.0.113.7", 5000), "198.51.100.1", "203.0.113.7"),
        (None, None, None),
    ],
    ids=["direct", "through-the-proxy", "proxy-appends-last", "untrusted-peer-claims", "no-network"],
)
def test_a_websockets_client_is_the_address_a_trusted_proxy_saw(client, forwarded, address):
    assert scope_client_address(scope(client, forwarded)) == address
