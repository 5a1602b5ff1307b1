"""Runs scenarios x layers x servers x variants, each variant on its own fresh server process."""

import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import peer
from bench.measure import Options, measure
from bench.scenarios import Scenario
from bench.servers import Server, layer_environment

VARIANTS = ("ours", "naive", "channels", "raw", peer.VARIANT)


def run_all(
    scenarios: list[Scenario],
    layers: list[str],
    variants: list[str],
    options: Options,
    server_names: list[str],
    keep: bool = False,
) -> list[dict]:
    """Start the servers (one per variant, fresh database per layer) and measure every combination."""
    folder = Path(tempfile.mkdtemp(prefix="bench-"))
    results = []
    try:
        if peer.VARIANT in variants:
            results += _measure_peer(scenarios, options, folder / peer.VARIANT)
            variants = [variant for variant in variants if variant != peer.VARIANT]
        for layer in layers:
            with layer_environment(layer, folder / layer) as environment:
                for scenario in scenarios:
                    for server_name in server_names:
                        for variant in variants:
                            server = environment.start_server(f"{scenario.name}-{variant}", server_name)
                            try:
                                result = _measure(
                                    server, environment.token, layer, server_name, variant, scenario, options
                                )
                            finally:
                                server.stop()
                            results.append(result)
    finally:
        if keep:
            print(f"Logs and databases kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def run_external(
    server: Server, token: str, scenarios: list[Scenario], variants: list[str], options: Options
) -> list[dict]:
    """Measure a server someone else started (its baselines need it to serve bench.asgi:application)."""
    results = []
    if peer.VARIANT in variants:
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            results += _measure_peer(scenarios, options, Path(folder))
    return results + [
        _measure(server, token, "external", "external", variant, scenario, options)
        for scenario in scenarios
        for variant in variants
        if variant != peer.VARIANT
    ]


def _measure_peer(scenarios: list[Scenario], options: Options, folder: Path) -> list[dict]:
    """The Node peer, once per scenario (it has no layer or ASGI server to vary), each on a fresh process."""
    try:
        peer.ensure_installed()
    except peer.PeerUnavailable as error:
        print(f"Skipping the Node peer (variant {peer.VARIANT}): {error}", file=sys.stderr, flush=True)
        return [_peer_failure(scenario, f"skipped: {error}") for scenario in scenarios]
    results = []
    for scenario in scenarios:
        try:
            with peer.running(folder / scenario.name) as (server, token):
                results.append(_measure(server, token, peer.LAYER, peer.SERVER, peer.VARIANT, scenario, options))
        except peer.PeerUnavailable as error:  # it did not start
            results.append(_peer_failure(scenario, str(error)))
    return results


def _peer_failure(scenario: Scenario, error: str) -> dict:
    return {
        "scenario": scenario.name,
        "layer": peer.LAYER,
        "server": peer.SERVER,
        "variant": peer.VARIANT,
        "parameters": vars(scenario),
        "error": error,
    }


def _measure(
    server: Server, token: str, layer: str, server_name: str, variant: str, scenario: Scenario, options: Options
) -> dict:
    head = {
        "scenario": scenario.name,
        "layer": layer,
        "server": server_name,
        "variant": variant,
        "parameters": vars(scenario),
    }
    print(f"{scenario.name} / {layer} / {server_name} / {variant}: measuring...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        result = {**head, **measure(server, token, variant, scenario, options)}
    except Exception as error:
        # One failed variant must not lose the others' results.
        result = {**head, "error": f"{type(error).__name__}: {error}"}
    if "error" in result:
        result["server_log_tail"] = server.log_tail()
    print(f"  done in {time.monotonic() - started:.1f} s: {_brief(result)}", file=sys.stderr, flush=True)
    return result


def _brief(result: dict) -> str:
    if "error" in result:
        return result["error"]
    latency = result["latency_ms"]
    return (
        f"{result['connections']} connections, set-up {result['setup_s']} s, "
        f"{result['delivered']}/{result['expected']} delivered, p99 {latency['p99']} ms, "
        f"{result['deliveries_per_s']}/s, {result['rss_per_connection_kib']} KiB/connection"
    )
