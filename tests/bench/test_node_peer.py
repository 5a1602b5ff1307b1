"""The Node peer of the benchmark (bench/node_peer/, bench/peer.py): pinned, and serving what the benchmark sends.

None of these needs the peer's node_modules; only the syntax check needs Node.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from bench import report, wire

PROJECT_DIR = Path(__file__).resolve().parents[2]
PEER_DIR = PROJECT_DIR / "bench" / "node_peer"
# What a Node team would pick (the README, "Performance"). better-sqlite3 13 needs Node 22.
PINNED = {"graphql-yoga": "5.24.1", "graphql-ws": "6.4.2", "better-sqlite3": "12.11.1"}


def _peer_schema_sdl() -> str:
    source = (PEER_DIR / "server.js").read_text()
    match = re.search(r"const typeDefs = /\* GraphQL \*/ `(.*?)`;", source, re.DOTALL)
    assert match, "server.js keeps its SDL in `const typeDefs = /* GraphQL */ `...`;`"
    return match.group(1)


def test_the_lock_file_pins_the_peers_packages_at_the_chosen_versions():
    manifest = json.loads((PEER_DIR / "package.json").read_text())
    lock = json.loads((PEER_DIR / "package-lock.json").read_text())

    for name, version in PINNED.items():
        assert manifest["dependencies"][name] == version
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    # The lock file was made from this package.json (npm ci refuses one that is out of step).
    assert lock["packages"][""]["dependencies"] == manifest["dependencies"]
    # better-sqlite3 builds its native module in an install script, which npm 11 asks to be allowed.
    assert manifest["allowScripts"].get("better-sqlite3") is True


def test_the_peers_node_modules_are_never_committed():
    assert "/bench/node_peer/node_modules/" in (PROJECT_DIR / ".gitignore").read_text().splitlines()


def test_the_peer_answers_every_document_the_benchmark_sends():
    schema = build_schema(_peer_schema_sdl())

    for document in (wire.SUBSCRIPTION, wire.UPDATE_STATUS, wire.CREATE_SUBMISSION):
        assert validate(schema, parse(document)) == []


def test_the_peers_source_parses():
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: the Node peer's syntax is not checked")
    result = subprocess.run(["node", "--check", "server.js"], cwd=PEER_DIR, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def _result(variant: str, layer: str, server: str, deliveries_per_s: int, p99_ms: float) -> dict:
    return {
        "scenario": "a-fanout",
        "layer": layer,
        "server": server,
        "variant": variant,
        "deliveries_per_s": deliveries_per_s,
        "latency_ms": {"p99": p99_ms},
        "setup_s": 1.0,
        "rss_per_connection_kib": 40.0,
    }


def test_every_case_of_ours_is_reported_as_a_ratio_to_the_peer_of_its_scenario():
    results = [
        _result("node", "in-process", "node", 20_000, 100.0),
        _result("ours", "embedded", "daphne", 10_000, 200.0),
        _result("ours", "embedded", "uvicorn", 30_000, 50.0),
    ]

    lines = report.ratios(results).splitlines()

    assert "a-fanout / embedded / daphne: ours/node: deliveries/s 0.50x, p99 2.00x" in "\n".join(lines)
    assert "a-fanout / embedded / uvicorn: ours/node: deliveries/s 1.50x, p99 0.50x" in "\n".join(lines)


def test_a_skipped_peer_leaves_the_other_ratios_alone():
    skipped = {**_result("node", "in-process", "node", 0, 0.0), "error": "skipped: node not on PATH"}
    raw = _result("raw", "embedded", "daphne", 20_000, 100.0)

    text = report.ratios([skipped, _result("ours", "embedded", "daphne", 10_000, 200.0), raw])

    assert "ours/node" not in text
    assert "ours/raw: deliveries/s 0.50x" in text
