"""The results as a table, as ratios of ours to the baselines, and as JSON."""

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The variant of the Node peer (bench/peer.py): the baseline our targets are set against.
NODE_PEER = "node"

COLUMNS = [
    # (heading, how to read it from a result)
    ("scenario", lambda r: r["scenario"]),
    ("layer", lambda r: r["layer"]),
    ("server", lambda r: r.get("server")),
    ("variant", lambda r: r["variant"]),
    ("conns", lambda r: _of(r, "connections", "connections_requested")),
    ("subs", lambda r: r.get("subscriptions")),
    ("setup s", lambda r: r.get("setup_s")),
    ("expected", lambda r: r.get("expected")),
    ("delivered", lambda r: r.get("delivered")),
    ("lost", lambda r: r.get("lost")),
    ("misrouted", lambda r: r.get("misrouted")),
    ("p50 ms", lambda r: _latency(r, "p50")),
    ("p95 ms", lambda r: _latency(r, "p95")),
    ("p99 ms", lambda r: _latency(r, "p99")),
    ("max ms", lambda r: _latency(r, "max")),
    ("chg/s", lambda r: r.get("changes_per_s")),
    ("deliv/s", lambda r: r.get("deliveries_per_s")),
    ("srv cpu%", lambda r: r.get("server_cpu_percent")),
    ("KiB/conn", lambda r: r.get("rss_per_connection_kib")),
    ("notes", lambda r: _notes(r)),
]
# Compared as ours / baseline: above 1 is better for deliveries/s, worse for the others.
RATIOS = [
    ("deliveries/s", lambda r: r.get("deliveries_per_s")),
    ("p99", lambda r: _latency(r, "p99")),
    ("set-up", lambda r: r.get("setup_s")),
    ("KiB/conn", lambda r: r.get("rss_per_connection_kib")),
]


def _of(result: dict, have: str, requested: str) -> str | None:
    if have not in result:
        return None
    return f"{result[have]}/{result[requested]}"


def _latency(result: dict, name: str):
    return (result.get("latency_ms") or {}).get(name)


def _notes(result: dict) -> str:
    if "error" in result:
        return result["error"][:100]
    notes = []
    for what in ("connect_failures", "drops"):
        for reason, count in (result.get(what) or {}).items():
            notes.append(f"{what.replace('_', ' ')}: {count} {reason}")
    for what in ("duplicates", "unconfirmed"):
        if result.get(what):
            notes.append(f"{what}: {result[what]}")
    if result.get("changes_failed"):
        notes.append(f"failed changes: {result['changes_failed'][0][:60]}")
    return "; ".join(notes)


def table(results: list[dict]) -> str:
    """A plain-text table, one row per result."""
    rows = [[heading for heading, _ in COLUMNS]]
    rows += [["-" if (value := read(result)) is None else str(value) for _, read in COLUMNS] for result in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def ratios(results: list[dict]) -> str:
    """ours/node, ours/raw, ours/channels and ours/naive for each scenario, layer and server where both ran.

    The Node peer is measured once per scenario (it has neither our layer nor
    our server), and every case of that scenario is compared with it.
    """
    by_case: dict[tuple, dict[str, dict]] = {}
    peers: dict[str, dict] = {}
    for result in results:
        if result["variant"] == NODE_PEER:
            peers[result["scenario"]] = result
            continue
        by_case.setdefault((result["scenario"], result["layer"], result.get("server")), {})[result["variant"]] = result
    lines = []
    for (scenario, layer, server), variants in by_case.items():
        ours = variants.get("ours")
        for baseline in (NODE_PEER, "raw", "channels", "naive"):
            other = peers.get(scenario) if baseline == NODE_PEER else variants.get(baseline)
            if ours is None or other is None or "error" in ours or "error" in other:
                continue
            parts = [f"{label} {_ratio(read(ours), read(other))}" for label, read in RATIOS]
            lines.append(f"{scenario} / {layer} / {server}: ours/{baseline}: " + ", ".join(parts))
    if not lines:
        return ""
    heading = "Ratios, ours / baseline (deliveries/s: above 1 is better; p99, set-up, KiB/conn: below 1 is better):"
    return "\n".join([heading, *lines])


def _ratio(ours, other) -> str:
    if ours is None or other is None or other == 0:
        return "-"
    return f"{ours / other:.2f}x"


def write_json(path: str, results: list[dict], arguments: dict) -> None:
    """The results with what produced them: arguments and machine."""
    document = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "code": code_version(),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()},
        "arguments": arguments,
        "results": results,
    }
    with open(path, "w") as file:
        json.dump(document, file, indent=2, default=str)


def code_version() -> dict:
    """The commit measured, and the files changed on top of it (the code under test is the working tree)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "changed": git("status", "--porcelain").splitlines()}
