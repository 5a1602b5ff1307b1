"""Hostile input to real servers: a WebSocket for another host, repeated wrong passwords."""

import base64
import http.cookiejar
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

TIMEOUT_SECONDS = 5


def websocket_handshake_status(port: int, host: str) -> int:
    """The HTTP status a server answers a WebSocket upgrade for /graphql/ sent with this Host."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /graphql/ HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n"
        "\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS) as connection:
        connection.sendall(request.encode())
        status_line = connection.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=TIMEOUT_SECONDS) as response:
        return response.read().decode()


@pytest.mark.parametrize("server_name", ["daphne", "uvicorn"])
def test_a_websocket_for_a_host_outside_allowed_hosts_is_refused_with_403(project, server_name):
    project.env["ALLOWED_HOSTS"] = "127.0.0.1,status.example.org"
    server = project.start_server(server=server_name)
    assert websocket_handshake_status(server.port, f"127.0.0.1:{server.port}") == 101
    assert websocket_handshake_status(server.port, "status.example.org") == 101
    assert websocket_handshake_status(server.port, "rebound.example.net") == 403
    assert websocket_handshake_status(server.port, f"localhost:{server.port}") == 403
    assert 'websocket_connections_rejected_total{reason="host"} 2.0' in metrics_text(server.port)


class Browser:
    """Just enough of a browser to post the sign-in form: cookies and the CSRF token."""

    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/accounts/login/"
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirects()
        )

    def sign_in(self, username: str, password: str) -> int:
        with self.opener.open(self.url, timeout=TIMEOUT_SECONDS) as page:
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
        form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
        try:
            with self.opener.open(self.url, data=form.encode(), timeout=TIMEOUT_SECONDS) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_a_real_server_answers_429_after_repeated_wrong_passwords_and_a_success_clears_them(project):
    project.env["LOGIN_FAILURE_LIMIT"] = "3"
    project.manage("demo")
    server = project.start_server()
    browser = Browser(server.port)
    assert [browser.sign_in("demo", "wrong") for _ in range(2)] == [200, 200]
    assert browser.sign_in("demo", "demo") == 302
    assert [browser.sign_in("demo", "wrong") for _ in range(3)] == [200, 200, 429]
    assert browser.sign_in("demo", "demo") == 429
