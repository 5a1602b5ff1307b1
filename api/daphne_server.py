"""Daphne, as `python -m daphne` runs it, with a short WebSocket closing handshake and a long listen backlog.

When the application closes a socket, autobahn waits up to a second for the
client's closing frame, and daphne goes on reading everything the client
sends meanwhile into the application's queue, unbounded. A client that
floods and never reads (so never answers the close) would cost the server
everything it can send in that second: measured here, +110 MiB from one
socket on loopback. Dropping the connection soon after the close frame
bounds that; a client that answers in time still gets a clean close.

Daphne's `-b HOST -p PORT` listen with Twisted's default backlog of 50
connections, and daphne has no option for it: a burst of clients overflows
it (measured with a Node client: 1,000 set up in 1.4-2.0 s, and resets at
10,000 at once). This takes `-b`/`-p` itself and hands daphne the same
address as a Twisted endpoint (`-e`) with `backlog=` set, the endpoint
syntax's own option: the kernel caps it at net.core.somaxconn (4096 here).

Daphne refuses a WebSocket still unopened `--websocket_connect_timeout`
(5 s) after it was accepted, so a longer queue can cost connections in a
burst larger than daphne handshakes in 5 s: 5,000 raw connections at once
from the benchmark's clients set up 2,500-3,900 here, against 4,600-4,900
with a backlog of 50, and all 5,000 (7-9 s) with the option at 30 s.

    python -m api.daphne_server -b 127.0.0.1 -p 8000 api.asgi:application
"""

import argparse
import logging
import sys

from daphne.access import AccessLogGenerator
from daphne.cli import DEFAULT_HOST, DEFAULT_PORT, CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor

from api.servers import LISTEN_BACKLOG

CLOSE_HANDSHAKE_TIMEOUT_SECONDS = 0.1
access_logger = logging.getLogger("daphne.access")


class LoggedAccess(AccessLogGenerator):
    """Daphne's access lines through logging (logger `daphne.access`), formatted like every other line.

    Daphne writes them to a stream of its own (standard output by default),
    which bypasses LOGGING: with LOG_FORMAT=json they were the only plain lines.
    """

    def __init__(self):
        super().__init__(stream=None)

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        access_logger.info('%s "%s" %s %s', host, request, status or "-", length or "-")


class QuickClosingServer(Server):
    def __init__(self, *args, **kwargs):
        if kwargs.get("action_logger") is not None:
            kwargs["action_logger"] = LoggedAccess()
        super().__init__(*args, **kwargs)

    def run(self):
        # Server.run makes the WebSocket factory and then runs the reactor:
        # the option is set once the factory exists, before any connection.
        reactor.callWhenRunning(
            lambda: self.ws_factory.setProtocolOptions(closeHandshakeTimeout=CLOSE_HANDSHAKE_TIMEOUT_SECONDS)
        )
        super().run()


class QuickClosingCommandLine(CommandLineInterface):
    server_class = QuickClosingServer


def with_listen_backlog(argv: list[str], backlog: int = LISTEN_BACKLOG) -> list[str]:
    """Daphne's arguments with its TCP binding (`-b`/`-p`, or its default) given as an endpoint with `backlog`.

    Other bindings (`-u`, `--fd`, `-e`) are left as they are, and then, as
    daphne does, no default address is added.
    """
    tcp = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    tcp.add_argument("-b", "--bind", dest="host")
    tcp.add_argument("-p", "--port", type=int)
    binding, rest = tcp.parse_known_args(argv)
    if binding.host is None and binding.port is None:
        others = CommandLineInterface().parser.parse_args(rest)
        if others.unix_socket or others.file_descriptor is not None or others.socket_strings:
            return rest
    host = (binding.host or DEFAULT_HOST).strip("[]").replace(":", r"\:")
    port = DEFAULT_PORT if binding.port is None else binding.port
    return ["-e", f"tcp:port={port}:interface={host}:backlog={backlog}", *rest]


if __name__ == "__main__":
    QuickClosingCommandLine().run(with_listen_backlog(sys.argv[1:]))
