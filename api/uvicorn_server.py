"""uvicorn as the project runs it: uvloop and httptools, a large listen backlog, and a graceful stop.

On SIGTERM uvicorn closes every WebSocket with 1012 (Service Restart), on
which graphql-ws clients wait seconds before they reconnect. Here the first
SIGTERM drains first (api.shutdown): new WebSockets are refused and /readyz
answers 503, the open ones are closed with 1000, on which clients with
subscriptions reconnect at once (to another process, through the load
balancer); then uvicorn stops as usual. A second SIGTERM stops at once.

    python -m api.uvicorn_server --host 127.0.0.1 --port 8000 api.asgi:application
"""

import asyncio
import signal

import uvicorn

from api import servers, shutdown
from api.log_format import project_logging
from api.servers import wrapper_arguments


class DrainingServer(uvicorn.Server):
    def handle_exit(self, sig, frame) -> None:
        if sig != signal.SIGTERM or shutdown.shutting_down:
            super().handle_exit(sig, frame)
            return
        # A signal handler runs in the event loop's thread, between two steps of it.
        loop = asyncio.get_running_loop()
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain_then_exit(sig, frame)))

    async def _drain_then_exit(self, sig, frame) -> None:
        await shutdown.drain()
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> None:
    args = wrapper_arguments("python -m api.uvicorn_server", argv)
    config = uvicorn.Config(
        args.application,
        host=args.host,
        port=args.port,
        backlog=args.backlog,
        # Named, not "auto": what runs must not change with what happens to be installed.
        loop="uvloop",
        http="httptools",
        ws="websockets-sansio",
        lifespan="off",
        # The application believes X-Forwarded-* from TRUSTED_PROXIES (api.asgi), under every server alike.
        proxy_headers=False,
        # The project's LOGGING rather than uvicorn's own: its lines, access lines included, are
        # formatted like every other (one JSON object a line in production).
        log_config=project_logging(),
    )
    servers.send_waits_for_client = True
    DrainingServer(config).run()


if __name__ == "__main__":
    main()
