"""Daphne as the project runs it listens with a long backlog, through daphne's own endpoint option."""

from api.daphne_server import with_listen_backlog
from api.servers import LISTEN_BACKLOG, command

APPLICATION = "api.asgi:application"


def test_the_address_given_is_listened_on_with_a_long_backlog():
    assert with_listen_backlog(["-b", "0.0.0.0", "-p", "8000", "--proxy-headers", APPLICATION]) == [
        "-e",
        f"tcp:port=8000:interface=0.0.0.0:backlog={LISTEN_BACKLOG}",
        "--proxy-headers",
        APPLICATION,
    ]


def test_long_options_and_a_free_port_are_read_as_daphne_reads_them():
    assert with_listen_backlog(["--bind", "127.0.0.1", "--port", "0", APPLICATION])[:2] == [
        "-e",
        f"tcp:port=0:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
    ]


def test_without_an_address_daphnes_default_gets_the_long_backlog_too():
    assert with_listen_backlog([APPLICATION]) == [
        "-e",
        f"tcp:port=8000:interface=127.0.0.1:backlog={LISTEN_BACKLOG}",
        APPLICATION,
    ]
    # Only a port, or only a host, completes with daphne's default for the other.
    assert (
        with_listen_backlog(["-p", "9000", APPLICATION])[1]
        == f"tcp:port=9000:interface=127.0.0.1:backlog={LISTEN_BACKLOG}"
    )


def test_an_ipv6_address_is_escaped_for_the_endpoint_syntax():
    assert with_listen_backlog(["-b", "[::1]", "-p", "8000", APPLICATION])[1] == (
        rf"tcp:port=8000:interface=\:\:1:backlog={LISTEN_BACKLOG}"
    )


def test_other_bindings_are_left_to_daphne():
    for binding in (["-u", "/run/app.sock"], ["--fd", "3"], ["-e", "tcp:port=8001"]):
        assert with_listen_backlog([*binding, APPLICATION]) == [*binding, APPLICATION]


def test_the_project_serves_daphne_through_this_launcher():
    assert command("daphne", port=8000)[1:3] == ["-m", "api.daphne_server"]
