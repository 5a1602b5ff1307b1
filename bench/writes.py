"""python -m bench writes: how many service mutations per second one server process takes.

    python -m bench writes
    python -m bench writes --storage sqlite --callers 8 --operations updateSubmissionStatus --seconds 5

For each storage kind (SQLite with the embedded channel layer; PostgreSQL
with a private Redis), one fresh server process on a fresh database; then
`updateSubmissionStatus`, `reportProgress` and `recordValidationResults`
(a batch of RESULTS_PER_BATCH results) are sent by 1, 8 and 32 concurrent
callers, each on its own keep-alive HTTP connection, as fast as the server
answers, round-robin over the submissions. The Node peer (bench/peer.py,
SQLite in WAL mode, in-process pub/sub: it has no PostgreSQL or Redis mode)
gets the same calls in the same run, and ours are reported as ratios to it.
Last, `services.set_status` in a loop in a plain Python process (a worker)
on each storage kind: calls/s.

The PostgreSQL database is a fresh one on BENCH_POSTGRES (default
postgres://postgres@127.0.0.1:5432), dropped afterwards.
"""

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bench import peer
from bench.servers import PROJECT_DIR, Environment, Server, _manage, layer_environment, private_redis, start_server

OPERATIONS = ("updateSubmissionStatus", "reportProgress", "recordValidationResults")
STORAGES = ("sqlite", "postgres")
DEFAULT_CALLERS = (1, 8, 32)
RESULTS_PER_BATCH = 100
REQUEST_TIMEOUT_SECONDS = 30.0
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")

DOCUMENTS = {
    "updateSubmissionStatus": "mutation ($input: UpdateSubmissionStatusInput!) "
    "{ updateSubmissionStatus(input: $input) { version } }",
    "reportProgress": "mutation ($input: ReportProgressInput!) { reportProgress(input: $input) { version } }",
    "recordValidationResults": "mutation ($input: RecordValidationResultsInput!) "
    "{ recordValidationResults(input: $input) { animals { validated error } } }",
    "addRecords": "mutation ($input: AddRecordsInput!) { addRecords(input: $input) }",
    "createSubmission": "mutation ($title: String!) { createSubmission(input: {title: $title}) { id } }",
}
OUTCOMES = ("PASS", "WARNING", "ERROR")


def _variables(operation: str, submission_id: str, seq: int) -> dict:
    if operation == "updateSubmissionStatus":
        return {"input": {"id": submission_id, "status": "LOADED", "message": f"write {seq}"}}
    if operation == "reportProgress":
        return {"input": {"submissionId": submission_id, "phase": "validation", "done": seq % 100, "total": 100}}
    results = []
    for n in range(RESULTS_PER_BATCH):
        outcome = OUTCOMES[(n + seq) % len(OUTCOMES)]
        messages = [] if outcome == "PASS" else [{"message": f"{outcome.lower()} value", "offendingColumn": "breed"}]
        results.append({"kind": "ANIMAL", "name": f"animal-{n}", "outcome": outcome, "messages": messages})
    return {"input": {"submissionId": submission_id, "results": results}}


class GraphQLConnection:
    """One keep-alive HTTP/1.1 connection POSTing GraphQL: cheap enough that the client is not what is measured."""

    def __init__(self, http_base: str, token: str):
        url = urlsplit(http_base)
        self.host, self.port = url.hostname, url.port
        self.head = (
            f"POST /graphql/ HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token}\r\nConnection: keep-alive\r\n"
        ).encode()
        self.reader = self.writer = None

    async def execute(self, document: str, variables: dict) -> dict:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        body = json.dumps({"query": document, "variables": variables}).encode()
        self.writer.write(self.head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = await self.reader.readline()
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            payload = await self.reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            payload = b""
            while size := int((await self.reader.readline()).strip(), 16):
                payload += await self.reader.readexactly(size)
                await self.reader.readline()
            await self.reader.readline()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        answer = json.loads(payload)
        if answer.get("errors") or not status.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{status.decode().strip()}: {answer.get('errors')}")
        return answer["data"]

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


async def _prepare(server: Server, token: str, submissions: int) -> list[str]:
    """`submissions` submissions, each with RESULTS_PER_BATCH animals (for the validation results)."""
    client = GraphQLConnection(server.http_base, token)
    ids = []
    for n in range(submissions):
        data = await client.execute(DOCUMENTS["createSubmission"], {"title": f"writes {n}"})
        ids.append(data["createSubmission"]["id"])
        records = [{"kind": "ANIMAL", "name": f"animal-{i}"} for i in range(RESULTS_PER_BATCH)]
        await client.execute(DOCUMENTS["addRecords"], {"input": {"submissionId": ids[-1], "records": records}})
    await client.close()
    return ids


async def _measure(server: Server, token: str, ids: list[str], operation: str, callers: int, seconds: float) -> dict:
    """Calls of `operation` by `callers` concurrent callers for `seconds` (after a short warm-up)."""
    warmup_s = min(1.0, seconds / 4)
    start = time.monotonic()
    counted_from, deadline = start + warmup_s, start + warmup_s + seconds
    done, errors, durations = 0, [], []

    async def caller(number: int) -> None:
        nonlocal done
        client = GraphQLConnection(server.http_base, token)
        seq = number
        try:
            while (now := time.monotonic()) < deadline:
                variables = _variables(operation, ids[seq % len(ids)], seq)
                try:
                    await asyncio.wait_for(client.execute(DOCUMENTS[operation], variables), REQUEST_TIMEOUT_SECONDS)
                except Exception as error:
                    errors.append(f"{type(error).__name__}: {error}"[:200])
                    await client.close()
                    if len(errors) > 20:
                        return
                finished = time.monotonic()
                if finished >= counted_from and now < deadline:
                    done += 1
                    durations.append(finished - now)
                seq += callers
        finally:
            await client.close()

    cpu_before = server.cpu_seconds()
    await asyncio.gather(*(caller(n) for n in range(callers)))
    elapsed = time.monotonic() - counted_from
    cpu_after = server.cpu_seconds()
    durations.sort()
    result = {
        "mutations": done,
        "per_s": round(done / elapsed, 1),
        "p50_ms": round(durations[len(durations) // 2] * 1000, 1) if durations else None,
        "p99_ms": round(durations[int(len(durations) * 0.99)] * 1000, 1) if durations else None,
        "errors": len(errors),
    }
    if cpu_before is not None and cpu_after is not None:
        result["server_cpu_percent"] = round(100 * (cpu_after - cpu_before) / (time.monotonic() - start))
    if errors:
        result["first_error"] = errors[0]
    return result


def _measure_server(server: Server, token: str, label: dict, args) -> list[dict]:
    async def run() -> list[dict]:
        ids = await _prepare(server, token, args.submissions)
        results = []
        for operation in args.operations:
            for callers in args.callers:
                print(f"writes / {label['storage']} / {label['variant']} / {operation} / {callers}...", file=sys.stderr)
                result = await _measure(server, token, ids, operation, callers, args.seconds)
                print(f"  {result}", file=sys.stderr, flush=True)
                results.append({**label, "operation": operation, "callers": callers, **result})
        return results

    return asyncio.run(run())


@contextmanager
def _postgres_environment(folder: Path) -> Iterator[Environment]:
    """A fresh PostgreSQL database and a private Redis (core layer); both gone afterwards."""
    import psycopg

    folder.mkdir(parents=True, exist_ok=True)
    name = f"bench_writes_{secrets.token_hex(4)}"
    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with private_redis(folder) as redis_url:
            env = {
                key: value
                for key, value in os.environ.items()
                if key not in {"REDIS_SENTINELS", "CHANNEL_LAYER", "EMBEDDED_REDIS_SOCKET"}
            }
            env.update(
                DJANGO_SETTINGS_MODULE="api.settings",
                DEBUG="false",
                SECRET_KEY=secrets.token_urlsafe(32),
                ALLOWED_HOSTS="127.0.0.1",
                DATABASE_URL=f"{POSTGRES_SERVER}/{name}",
                REDIS_URL=redis_url,
                CHANNEL_LAYER="core",
            )
            _manage(env, "migrate", "--noinput")
            token = _manage(env, "create_api_token", "bench", "--create-user", "--service").strip()
            yield Environment(layer="redis-core", env=env, folder=folder, token=token)
    finally:
        with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _environment(storage: str, folder: Path):
    return layer_environment("embedded", folder) if storage == "sqlite" else _postgres_environment(folder)


def _worker_loop(env: dict, calls: int) -> dict:
    """`services.set_status` `calls` times in a fresh plain Python process (a worker); calls/s."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.writes", "worker", str(calls)],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        return {"error": result.stderr[-500:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def worker_main(calls: int) -> None:
    """Run in the worker process: set up Django, time `calls` set_status calls, print the rate as JSON."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from submissions import services
    from submissions.models import Submission

    owner = get_user_model().objects.get(username="bench")
    submission = Submission.objects.create(owner=owner, title="worker loop")
    services.set_status(submission.pk, "LOADED", "warm-up")
    start = time.perf_counter()
    for n in range(calls):
        services.set_status(submission.pk, "LOADED", f"worker {n}")
    elapsed = time.perf_counter() - start
    print(
        json.dumps(
            {"calls": calls, "per_s": round(calls / elapsed, 1), "ms_per_call": round(1000 * elapsed / calls, 3)}
        )
    )


def run(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-writes-"))
    results, workers = [], []
    try:
        if "node" in args.variants:
            try:
                peer.ensure_installed()
                with peer.running(folder / "node") as (server, token):
                    label = {"storage": "sqlite (WAL)", "variant": "node", "layer": "in-process"}
                    results += _measure_server(server, token, label, args)
            except peer.PeerUnavailable as error:
                print(f"Skipping the Node peer: {error}", file=sys.stderr)
        for storage in args.storage:
            with _environment(storage, folder / storage) as environment:
                if "ours" in args.variants:
                    server = start_server(environment.env, folder / storage / f"{args.server}.log", args.server)
                    try:
                        label = {"storage": storage, "variant": "ours", "layer": environment.layer}
                        results += _measure_server(server, environment.token, label, args)
                    finally:
                        server.stop()
                if args.worker_calls:
                    print(f"writes / {storage} / worker loop...", file=sys.stderr, flush=True)
                    workers.append({"storage": storage, **_worker_loop(environment.env, args.worker_calls)})
    finally:
        if args.keep:
            print(f"Logs and databases kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(table(results, workers))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "http": results, "worker": workers}, indent=2))


def table(results: list[dict], workers: list[dict]) -> str:
    """One row per (storage, variant, operation, callers), with the ratio to the Node peer's figure."""
    peer_rate = {(r["operation"], r["callers"]): r["per_s"] for r in results if r["variant"] == "node"}
    head = ("storage", "variant", "operation", "callers", "mut/s", "p50 ms", "p99 ms", "srv cpu%", "errors", "× node")
    rows = [head]
    for r in results:
        baseline = peer_rate.get((r["operation"], r["callers"]))
        ratio = f"{r['per_s'] / baseline:.2f}" if baseline and r["variant"] != "node" else ""
        cells = (r["storage"], r["variant"], r["operation"], r["callers"], r["per_s"], r["p50_ms"], r["p99_ms"])
        rows.append((*cells, r.get("server_cpu_percent"), r["errors"], ratio))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(head))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    if workers:
        lines += ["", "set_status in a loop in a plain Python process (a worker):"]
        for w in workers:
            shown = f"{w['per_s']} calls/s ({w['ms_per_call']} ms each)" if "per_s" in w else w["error"]
            lines.append(f"  {w['storage']}: {shown}")
    errors = [r for r in results if r.get("first_error")]
    for r in errors:
        lines.append(f"first error of {r['variant']} {r['storage']} {r['operation']}: {r['first_error']}")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    def listed(choices):
        def parse(text):
            values = [value.strip() for value in text.split(",") if value.strip()]
            if unknown := set(values) - set(choices):
                raise ValueError(f"unknown: {', '.join(sorted(unknown))}")
            return values

        return parse

    def numbers(text):
        return [int(value) for value in text.split(",")]

    parser.add_argument("--storage", type=listed(STORAGES), default=list(STORAGES), help="sqlite,postgres")
    parser.add_argument("--variants", type=listed(("ours", "node")), default=["ours", "node"], help="ours,node")
    parser.add_argument("--operations", type=listed(OPERATIONS), default=list(OPERATIONS))
    parser.add_argument("--callers", type=numbers, default=list(DEFAULT_CALLERS), help="default 1,8,32")
    parser.add_argument("--seconds", type=float, default=4.0, help="measured per cell, after a warm-up (default 4)")
    parser.add_argument("--submissions", type=int, default=50)
    parser.add_argument("--worker-calls", type=int, default=500, help="set_status calls of the worker loop; 0: none")
    parser.add_argument("--server", default="uvicorn", help="the ASGI server (default uvicorn)")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true", help="keep the servers' logs and databases")


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker_main(int(sys.argv[2]))
