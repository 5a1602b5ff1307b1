"""granian as the project runs it: its lines, access lines included, through the project's LOGGING.

Granian configures logging itself, in its supervisor and in each worker,
with a format of its own; given the project's LOGGING (a dictConfig) it
formats every line like the application's (one JSON object a line in
production).

    python -m api.granian_server --host 127.0.0.1 --port 8000 api.asgi:application
"""

from granian import Granian
from granian.constants import Interfaces, Loops

from api.log_format import project_logging
from api.servers import wrapper_arguments

# How long granian's supervisor waits for its worker to stop before killing it.
WORKERS_KILL_TIMEOUT_SECONDS = 5
# Requests (WebSockets included) served at once; the default, the backlog,
# would leave connections past it waiting unserved.
BACKPRESSURE = 1_000_000


def main(argv: list[str] | None = None) -> None:
    args = wrapper_arguments("python -m api.granian_server", argv)
    Granian(
        args.application,
        address=args.host,
        port=args.port,
        # ASGI without the lifespan protocol, which the application does not speak.
        interface=Interfaces.ASGINL,
        loop=Loops.uvloop,
        websockets=True,
        workers=1,
        backlog=args.backlog,
        backpressure=BACKPRESSURE,
        workers_kill_timeout=WORKERS_KILL_TIMEOUT_SECONDS,
        log_dictconfig=project_logging(),
        log_access=True,
    ).serve()


if __name__ == "__main__":
    main()
