"""Who the client is behind the shipped proxy, for HTTP requests and WebSocket scopes alike."""

import pytest
from asgiref.testing import ApplicationCommunicator

from api.proxies import CLIENT_RESOLVED, resolving_forwarded_headers, scope_client_address


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
        (("127.0.0.1", 5000), "203.0.113.7, 127.0.0.1", "203.0.113.7"),
        (None, None, None),
    ],
    ids=["direct", "through-the-proxy", "proxy-appends-last", "untrusted-peer-claims", "two-proxies", "no-network"],
)
def test_a_websockets_client_is_the_address_a_trusted_proxy_saw(client, forwarded, address):
    assert scope_client_address(scope(client, forwarded)) == address


async def test_the_application_resolves_the_client_once_and_marks_the_scope():
    seen = {}

    async def probe(scope, receive, send):
        seen["client"], seen["address"] = scope["client"][0], scope_client_address(scope)
        await send({"type": "websocket.close"})

    communicator = ApplicationCommunicator(
        resolving_forwarded_headers(probe), scope(("127.0.0.1", 5000), "198.51.100.1, 203.0.113.7")
    )
    await communicator.send_input({"type": "websocket.connect"})
    await communicator.receive_output(timeout=5)

    assert seen == {"client": "203.0.113.7", "address": "203.0.113.7"}


def test_a_resolved_scopes_client_is_not_resolved_again_from_the_header():
    resolved = {**scope(("127.0.0.1", 0), "203.0.113.7"), CLIENT_RESOLVED: True}

    assert scope_client_address(resolved) == "127.0.0.1"


CSRF_SECRET = "a" * 32


async def sign_in_status(*, peer: str, forwarded_proto: str) -> int:
    """The status of a sign-in POSTed from the page https://status.example.org, by `peer`."""
    from api.asgi import application

    headers = [
        (b"host", b"status.example.org"),
        (b"origin", b"https://status.example.org"),
        (b"x-forwarded-proto", forwarded_proto.encode()),
        (b"cookie", b"csrftoken=" + CSRF_SECRET.encode()),
        (b"x-csrftoken", CSRF_SECRET.encode()),
        (b"content-type", b"application/x-www-form-urlencoded"),
    ]
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/accounts/login/",
        "raw_path": b"/accounts/login/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": (peer, 5000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"username=nobody&password=wrong"})
    start = await communicator.receive_output(timeout=10)
    await communicator.wait(timeout=10)
    return start["status"]


@pytest.mark.django_db(transaction=True)
async def test_a_request_is_https_when_a_trusted_proxy_says_so_and_only_then(settings):
    # CSRF's origin check compares the page's origin, https://..., with the request's scheme and host.
    settings.ALLOWED_HOSTS = ["status.example.org"]
    # The default TRUSTED_PROXIES: loopback, where nginx runs beside the servers.
    assert await sign_in_status(peer="127.0.0.1", forwarded_proto="https") == 200, "the form again: wrong password"
    assert await sign_in_status(peer="203.0.113.7", forwarded_proto="https") == 403, "a client's own claim"
