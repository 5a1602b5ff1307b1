"""One measurement: one variant of one scenario against one server, with clients in other processes."""

import multiprocessing
import time
from collections import Counter
from dataclasses import dataclass

from bench import clients
from bench.driver import REQUEST_TIMEOUT_SECONDS, GraphQLHttp, create_submissions, drive_changes
from bench.scenarios import Scenario
from bench.servers import Server
from bench.stats import summarise

SPAWN_TIMEOUT_SECONDS = 60.0
PIPE_MARGIN_SECONDS = 30.0
JOIN_TIMEOUT_SECONDS = 30.0
# Time for the server to finish what set-up left behind before memory is read.
SETTLE_SECONDS = 1.0
# Set-up is bounded by the larger of these: generous, since a slow set-up is a result to report.
SETUP_TIMEOUT_FLOOR_S = 60.0
SETUP_TIMEOUT_PER_CONNECTION_S = 0.03


@dataclass(frozen=True)
class Options:
    interval_s: float = 0.02  # between two changes
    senders: int = 4  # change POSTs in flight at once
    client_processes: int = 2
    connect_concurrency: int = 50  # handshakes in flight at once, as a crowd of browsers reconnecting would be
    setup_timeout_s: float | None = None  # None: SETUP_TIMEOUT_FLOOR_S or SETUP_TIMEOUT_PER_CONNECTION_S each
    quiet_s: float = 5.0  # stop waiting for events after this long with none
    drain_max_s: float = 60.0  # and at the latest this long after the last change was sent


def connection_plan(scenario: Scenario, submission_ids: list[str]) -> list[list[str]]:
    """The submissions of each connection: consecutive ones, so that a connection never has one twice."""
    per_connection = scenario.subscriptions_per_connection
    return [
        [submission_ids[(n * per_connection + slot) % len(submission_ids)] for slot in range(per_connection)]
        for n in range(scenario.connections)
    ]


def measure(server: Server, token: str, variant: str, scenario: Scenario, options: Options) -> dict:
    """Set up the scenario's connections to `variant`, drive its changes, and summarise what arrived."""
    http = GraphQLHttp(server.http_base, token)
    submission_ids = create_submissions(http, scenario.submissions)
    plan = connection_plan(scenario, submission_ids)
    url = server.ws_url(clients.VARIANT_PATHS[variant])

    setup_timeout_s = options.setup_timeout_s or max(
        SETUP_TIMEOUT_FLOOR_S, SETUP_TIMEOUT_PER_CONNECTION_S * scenario.connections
    )

    def config(connections, concurrency):
        return clients.WorkerConfig(variant, url, token, connections, concurrency, setup_timeout_s)

    failure = clients.warm_up(config([(-1, plan[0])], 1))
    if failure:
        return {"error": f"warm-up connection failed: {failure}"}
    time.sleep(SETTLE_SECONDS)
    rss_before = server.rss_kib()

    processes = max(1, min(options.client_processes, scenario.connections))
    shares = [[(n, plan[n]) for n in range(p, scenario.connections, processes)] for p in range(processes)]
    concurrency = max(1, options.connect_concurrency // processes)
    context = multiprocessing.get_context("spawn")
    workers = []
    try:
        for share in shares:
            parent, child = context.Pipe()
            process = context.Process(target=clients.worker_main, args=(child, config(share, concurrency)), daemon=True)
            process.start()
            workers.append((process, parent))
        _collect(workers, "spawned", SPAWN_TIMEOUT_SECONDS)
        # How long a worker waits, connected, for the changes to be driven (bounded by the POST timeouts).
        driving_s = scenario.events * (options.interval_s + REQUEST_TIMEOUT_SECONDS / options.senders)
        idle_wait_s = scenario.idle_s + SETTLE_SECONDS + driving_s + PIPE_MARGIN_SECONDS
        setup_cpu_before = server.cpu_seconds()
        for _, pipe in workers:
            pipe.send(("go", idle_wait_s))
        ready = _collect(workers, "ready", setup_timeout_s + PIPE_MARGIN_SECONDS)
        setup_cpu_after = server.cpu_seconds()
        time.sleep(max(SETTLE_SECONDS, scenario.idle_s))
        rss_after = server.rss_kib()

        cpu_before, cpu_from = server.cpu_seconds(), time.monotonic()
        send_change = http.raw_broadcast if variant == "raw" else http.change_status
        changes = drive_changes(send_change, submission_ids, scenario.events, options.interval_s, options.senders)
        expected = Counter(change.submission_id for change in changes if change.error is None)
        expect = {"expected": dict(expected), "quiet_s": options.quiet_s, "max_s": options.drain_max_s}
        for _, pipe in workers:
            pipe.send(("expect", expect))
        results = _collect(workers, "result", options.drain_max_s + PIPE_MARGIN_SECONDS)
        cpu_after, cpu_to = server.cpu_seconds(), time.monotonic()
    finally:
        _stop(workers)

    summary = summarise(plan, changes, ready, results)
    summary.update(
        rss_before_kib=rss_before,
        rss_after_kib=rss_after,
        rss_per_connection_kib=_per(rss_after - rss_before, summary["connections"])
        if rss_before is not None and rss_after is not None
        else None,
        server_cpu_s=None if cpu_before is None else round(cpu_after - cpu_before, 3),
        server_setup_cpu_s=None if setup_cpu_before is None else round(setup_cpu_after - setup_cpu_before, 3),
    )
    if summary["server_cpu_s"] is not None:
        # From the first change sent until every client stopped waiting.
        summary["server_cpu_percent"] = round(100 * summary["server_cpu_s"] / (cpu_to - cpu_from), 1)
    return summary


def _collect(workers, kind: str, timeout_s: float) -> list:
    """The `kind` message of every worker; raises if one does not send it in time."""
    deadline = time.monotonic() + timeout_s
    payloads = []
    for _, pipe in workers:
        if not pipe.poll(max(0.0, deadline - time.monotonic())):
            raise TimeoutError(f"a client process sent no {kind!r} within {timeout_s:.0f} s")
        got, payload = pipe.recv()
        if got != kind:
            raise RuntimeError(f"a client process sent {got!r}, expected {kind!r}")
        payloads.append(payload)
    return payloads


def _stop(workers) -> None:
    for _, pipe in workers:
        try:
            pipe.send(("stop", None))
        except OSError:
            pass
    deadline = time.monotonic() + JOIN_TIMEOUT_SECONDS
    for process, _ in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(5)


def _per(total: float, count: int) -> float | None:
    return round(total / count, 1) if count else None
