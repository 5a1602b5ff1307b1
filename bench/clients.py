"""WebSocket clients, run in worker processes apart from the server.

A worker opens its share of the connections, a bounded number at a time,
and reports once every subscription has its first message (the snapshot;
the channels and raw endpoints send none, so there the accepted handshake
counts). It
records every change that arrives (on which connection and subscription,
which change, when) until the main process has said what to expect and
all of it arrived, or nothing has arrived for a while, and sends the
records back.

Protocol with the main process, over a multiprocessing pipe:
worker "spawned" -> main "go" -> worker "ready" -> main "expect" (or "stop")
-> worker "result".
"""

import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench import wire

VARIANT_PATHS = {
    "ours": "/graphql/",
    "naive": "/bench/naive/",
    "channels": "/bench/channels/",
    "raw": "/bench/raw/",
    "node": "/graphql",  # the Node peer (bench/peer.py), a server of its own
}
GRAPHQL_VARIANTS = {"ours", "naive", "node"}
GRAPHQL_PROTOCOL = "graphql-transport-ws"
OPEN_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 2.0
CLOSE_ALL_TIMEOUT_SECONDS = 15.0
CHECK_INTERVAL_SECONDS = 0.05
PONG = json.dumps({"type": "pong"})


@dataclass
class WorkerConfig:
    variant: str  # one of VARIANT_PATHS
    ws_url: str  # the variant's endpoint
    token: str
    connections: list[tuple[int, list[str]]]  # (connection number, submission ids it subscribes to)
    concurrency: int  # connections being set up at once
    setup_timeout_s: float


class SubscriptionFailed(Exception):
    pass


def _reason(error: BaseException) -> str:
    if isinstance(error, InvalidStatus):
        return f"HTTP {error.response.status_code}"
    if isinstance(error, ConnectionClosed):
        frame = error.rcvd or error.sent
        return f"closed {frame.code}" if frame else "closed without a close frame"
    if isinstance(error, SubscriptionFailed):
        return str(error)[:120]
    return type(error).__name__


class Clients:
    """The connections of one process, and what they received."""

    def __init__(self, config: WorkerConfig):
        self.config = config
        self.graphql = config.variant in GRAPHQL_VARIANTS
        self.established: set[int] = set()
        self.failures: Counter[str] = Counter()  # connections that never got set up, by reason
        self.drops: Counter[str] = Counter()  # connections lost after set-up, by reason
        # (connection, submission of the subscription it arrived on or None, change seq, received at)
        self.records: list[tuple[int, str | None, int, float]] = []
        self.seen: dict[tuple[int, str], set[int]] = {}
        self.last_ready_at = 0.0
        self.last_receipt_at = 0.0
        self.settled = asyncio.Event()  # every connection is set up or has failed
        self._tasks: dict[int, asyncio.Task] = {}
        self._gate = asyncio.Semaphore(config.concurrency)

    def start(self) -> None:
        for index, submission_ids in self.config.connections:
            self._tasks[index] = asyncio.create_task(self._connection(index, submission_ids))

    async def establish(self) -> None:
        """Start every connection; wait (bounded) until each is set up or has failed."""
        self.start()
        try:
            await asyncio.wait_for(self.settled.wait(), self.config.setup_timeout_s)
        except TimeoutError:
            late = [task for index, task in self._tasks.items() if index not in self.established and not task.done()]
            self.failures["set-up timeout"] += len(late)
            for task in late:
                task.cancel()

    def complete(self, expected: dict[str, int]) -> bool:
        """Whether every established subscription has all the changes made to its submission."""
        return all(
            len(self.seen.get((index, submission_id), ())) >= expected.get(submission_id, 0)
            for index, submission_ids in self.config.connections
            if index in self.established
            for submission_id in submission_ids
        )

    async def drain(self, expected: dict[str, int], quiet_s: float, max_s: float) -> None:
        """Wait until all that is expected has arrived, nothing arrives for `quiet_s`, or `max_s` passes."""
        start = time.time()
        while not self.complete(expected):
            now = time.time()
            if now - max(self.last_receipt_at, start) > quiet_s or now - start > max_s:
                return
            await asyncio.sleep(CHECK_INTERVAL_SECONDS)

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks.values(), timeout=CLOSE_ALL_TIMEOUT_SECONDS)

    def _settle(self) -> None:
        if len(self.established) + sum(self.failures.values()) >= len(self.config.connections):
            self.settled.set()

    def _url(self, submission_ids: list[str]) -> str:
        if self.graphql:
            return self.config.ws_url
        return self.config.ws_url + "?" + urlencode([("submission", s) for s in submission_ids])

    async def _connection(self, index: int, submission_ids: list[str]) -> None:
        ready = False
        await self._gate.acquire()
        try:
            async with connect(
                self._url(submission_ids),
                subprotocols=[GRAPHQL_PROTOCOL] if self.graphql else None,
                compression=None,
                proxy=None,  # never through a proxy: traffic stays on 127.0.0.1
                ping_interval=None,  # daphne pings; answering is enough
                open_timeout=OPEN_TIMEOUT_SECONDS,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                max_queue=1024,
            ) as socket:
                waiting = await self._subscribe(socket, submission_ids) if self.graphql else set()
                if not waiting:
                    ready = self._ready(index)
                async for text in socket:
                    received_at = time.time()
                    operation = await self._handle(socket, index, submission_ids, text, received_at)
                    if operation in waiting:
                        waiting.discard(operation)
                        if not waiting:
                            ready = self._ready(index)
                raise ConnectionClosed(socket.close_rcvd, socket.close_sent)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            (self.drops if ready else self.failures)[_reason(error)] += 1
            self._settle()
        finally:
            if not ready:
                self._gate.release()

    def _ready(self, index: int) -> bool:
        self.established.add(index)
        self.last_ready_at = time.time()
        self._gate.release()
        self._settle()
        return True

    async def _subscribe(self, socket, submission_ids: list[str]) -> set[str]:
        """connection_init, wait for the ack, subscribe; returns the operation ids awaiting a first message."""
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {self.config.token}"}}
        await socket.send(json.dumps(init))
        while (message := json.loads(await socket.recv()))["type"] != "connection_ack":
            if message["type"] != "ping":
                raise SubscriptionFailed(f"connection_init answered with {message['type']}")
            await socket.send(PONG)
        for slot, submission_id in enumerate(submission_ids):
            payload = {"query": wire.SUBSCRIPTION, "variables": {"id": submission_id}}
            await socket.send(json.dumps({"type": "subscribe", "id": str(slot), "payload": payload}))
        return {str(slot) for slot in range(len(submission_ids))}

    async def _handle(self, socket, index: int, submission_ids: list[str], text: str, received_at: float) -> str | None:
        """Record a change that arrived; returns the GraphQL operation id it arrived on, if any."""
        message = json.loads(text)
        if not self.graphql:
            submission_id = message.get("submission_id")
            self._record(index, submission_id if submission_id in submission_ids else None, message, received_at)
            return None
        kind = message.get("type")
        if kind == "ping":
            # Our server asks for a pong after each window of messages (live/flow.py).
            await socket.send(PONG)
            return None
        if kind != "next":
            raise SubscriptionFailed(f"{kind}: {json.dumps(message.get('payload'))}")
        payload = message["payload"]
        if payload.get("errors"):
            raise SubscriptionFailed(f"errors: {payload['errors'][0].get('message')}")
        self._record(index, submission_ids[int(message["id"])], payload["data"]["submissionStatus"], received_at)
        return message["id"]

    def _record(self, index: int, submission_id: str | None, event: dict, received_at: float) -> None:
        seq = wire.change_seq(event.get("message"))
        if seq is None:
            return  # a snapshot
        self.records.append((index, submission_id, seq, received_at))
        self.last_receipt_at = received_at
        if submission_id is not None:
            self.seen.setdefault((index, submission_id), set()).add(seq)

    def report(self) -> dict:
        return {
            "established": sorted(self.established),
            "failures": dict(self.failures),
            "drops": dict(self.drops),
            "last_ready_at": self.last_ready_at,
        }


def worker_main(pipe, config: WorkerConfig) -> None:
    """Entry point of a client process."""
    asyncio.run(_worker(pipe, config))


async def _receive(pipe, timeout_s: float) -> tuple:
    def wait():
        return pipe.recv() if pipe.poll(timeout_s) else ("timeout", None)

    try:
        return await asyncio.to_thread(wait)
    except (EOFError, OSError):  # the main process went away
        return ("stop", None)


async def _worker(pipe, config: WorkerConfig) -> None:
    clients = Clients(config)
    pipe.send(("spawned", None))
    command, wait_s = await _receive(pipe, 120)
    if command != "go":
        return
    started_at = time.time()
    await clients.establish()
    pipe.send(("ready", {**clients.report(), "started_at": started_at}))
    cpu_start = time.process_time()
    # The main process may keep the connections idle for a while before it drives changes.
    command, payload = await _receive(pipe, wait_s)
    if command == "expect":
        await clients.drain(payload["expected"], payload["quiet_s"], payload["max_s"])
    result = {**clients.report(), "records": clients.records, "cpu_s": time.process_time() - cpu_start}
    pipe.send(("result", result))
    await clients.close()


def warm_up(config: WorkerConfig) -> str | None:
    """Open the first connection of `config` and wait for its first message; returns why it failed, or None.

    Run once before measuring, so that what the server allocates on first
    use (imports, the event listener, pools) is not counted per connection.
    """

    async def run() -> str | None:
        clients = Clients(config)
        clients.start()
        try:
            await asyncio.wait_for(clients.settled.wait(), config.setup_timeout_s)
        except TimeoutError:
            return "set-up timeout"
        finally:
            await clients.close()
        return None if clients.established else ", ".join(clients.failures)

    return asyncio.run(run())
