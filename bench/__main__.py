"""python -m bench {fanout,idle,all}: the command line.

    python -m bench fanout --connections 1000 --subscriptions-per-connection 1 --submissions 1 --events 50
    python -m bench idle --connections 10000
    python -m bench all --json results.json
    python -m bench writes

Without --url, every variant gets a fresh server process (one process,
`-p 0`) on a fresh SQLite database per layer; with --url (and --token),
the server given is measured as it is (for the baselines, serving
bench.asgi:application: `python -m api.servers daphne --application
bench.asgi:application`).
"""

import argparse
import signal
import sys
from urllib.parse import urlsplit

from api.servers import SERVERS
from bench import report, writes
from bench.measure import Options
from bench.run import VARIANTS, run_all, run_external
from bench.scenarios import DEFAULT_IDLE_CONNECTIONS, Scenario, idle_scenario, spec_scenarios
from bench.servers import LAYERS, Server

LAYER_CHOICES = {
    "embedded": ["embedded"],
    "redis": ["redis-core", "redis-pubsub"],
    "redis-core": ["redis-core"],
    "redis-pubsub": ["redis-pubsub"],
    "all": list(LAYERS),
}
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--layer",
        choices=LAYER_CHOICES,
        help="embedded, redis (core and pubsub) or all; default embedded, and all for `all`",
    )
    common.add_argument(
        "--server", choices=[*SERVERS, "all"], default="uvicorn", help="the ASGI server, or all (default uvicorn)"
    )
    common.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="comma-separated: ours,naive,channels,raw,node (node: the Node peer, when node is on PATH)",
    )
    common.add_argument("--interval-ms", type=float, default=20.0, help="between two changes (default 20)")
    common.add_argument("--senders", type=int, default=4, help="change POSTs in flight at once (default 4)")
    common.add_argument("--client-processes", type=int, default=2)
    common.add_argument("--connect-concurrency", type=int, default=50, help="connections being set up at once")
    common.add_argument(
        "--setup-timeout", type=float, help="seconds for all connections to be set up (default: 60, or 30 ms each)"
    )
    common.add_argument("--quiet-timeout", type=float, default=5.0, help="stop waiting after this long with no event")
    common.add_argument("--drain-timeout", type=float, default=60.0, help="longest wait for events after the changes")
    common.add_argument("--time-limit", type=float, default=3600.0, help="the whole run stops after this many seconds")
    common.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    common.add_argument("--keep", action="store_true", help="keep the servers' logs and databases")
    common.add_argument("--url", help="measure this running server (http://127.0.0.1:PORT) instead of starting one")
    common.add_argument("--token", help="a service token of the --url server")
    common.add_argument("--server-pid", type=int, help="the --url server's process id, to read its memory")

    main = argparse.ArgumentParser(
        prog="python -m bench",
        description="The project's benchmark (README.md, Performance: what it measures and how).",
    )
    commands = main.add_subparsers(dest="command", required=True)
    fanout = commands.add_parser("fanout", parents=[common], help="subscribers receiving a series of changes")
    fanout.add_argument("--connections", type=int, default=1000)
    fanout.add_argument("--subscriptions-per-connection", type=int, default=1)
    fanout.add_argument("--submissions", type=int, default=1)
    fanout.add_argument("--events", type=int, default=50)
    idle = commands.add_parser("idle", parents=[common], help="memory of idle subscribed connections")
    idle.add_argument("--connections", type=int, default=DEFAULT_IDLE_CONNECTIONS, help="the target is 10000")
    idle.add_argument("--submissions", type=int, default=1)
    idle.add_argument("--events", type=int, default=1, help="changes sent after the idle spell")
    everything = commands.add_parser("all", parents=[common], help="the README's scenarios (a), (b) and (c)")
    everything.add_argument(
        "--connections", type=int, default=DEFAULT_IDLE_CONNECTIONS, help="of the idle scenario (c); target 10000"
    )
    writes.add_arguments(commands.add_parser("writes", help="service mutations/s (bench/writes.py)"))
    return main


def scenarios_of(args) -> list[Scenario]:
    if args.command == "fanout":
        if args.subscriptions_per_connection > args.submissions:
            sys.exit("--subscriptions-per-connection may not exceed --submissions (one subscription per submission)")
        return [
            Scenario(
                "fanout",
                connections=args.connections,
                subscriptions_per_connection=args.subscriptions_per_connection,
                submissions=args.submissions,
                events=args.events,
            )
        ]
    if args.command == "idle":
        return [idle_scenario(args.connections, submissions=args.submissions, events=args.events)]
    return spec_scenarios(args.connections)


def _stop_at_time_limit(seconds: float) -> None:
    def expire(number, frame):
        raise TimeoutError(f"the run reached its time limit of {seconds:.0f} s")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, int(seconds)))


def main() -> None:
    args = parser().parse_args()
    if args.command == "writes":
        return writes.run(args)
    variants = [variant.strip() for variant in args.variants.split(",") if variant.strip()]
    if unknown := set(variants) - set(VARIANTS):
        sys.exit(f"unknown variants: {', '.join(sorted(unknown))}")
    options = Options(
        interval_s=args.interval_ms / 1000,
        senders=args.senders,
        client_processes=args.client_processes,
        connect_concurrency=args.connect_concurrency,
        setup_timeout_s=args.setup_timeout,
        quiet_s=args.quiet_timeout,
        drain_max_s=args.drain_timeout,
    )
    scenarios = scenarios_of(args)
    _stop_at_time_limit(args.time_limit)
    if args.url:
        url = urlsplit(args.url)
        if url.hostname not in LOCAL_HOSTS or not args.token:
            sys.exit("--url must be http://127.0.0.1:PORT (this machine), and needs --token")
        server = Server(http_base=f"http://{url.hostname}:{url.port or 80}", pid=args.server_pid)
        if len([variant for variant in variants if variant != "node"]) > 1:
            # Seen here: once our listener ran in a process, the per-connection
            # consumers of naive and channels got their events seconds late.
            print("Warning: the variants share one server process; measure one --variants per server.", file=sys.stderr)
        results = run_external(server, args.token, scenarios, variants, options)
    else:
        layers = LAYER_CHOICES[args.layer or ("all" if args.command == "all" else "embedded")]
        server_names = list(SERVERS) if args.server == "all" else [args.server]
        results = run_all(scenarios, layers, variants, options, server_names, keep=args.keep)
    signal.alarm(0)

    code = report.code_version()
    print(f"Code: {code['commit'][:12]} with {len(code['changed'])} changed files in the working tree")
    print(report.table(results))
    if ratios := report.ratios(results):
        print()
        print(ratios)
    if args.json:
        report.write_json(args.json, results, {**vars(args), "scenarios": [vars(s) for s in scenarios]})
        print(f"\nResults written to {args.json}")


if __name__ == "__main__":
    main()
