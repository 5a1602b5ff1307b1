"""Subscriptions over HTTP as real client libraries speak them: Apollo Client, urql and graphql-sse.

Their packages are pinned by tests/clients/package-lock.json and installed
with `npm ci` on first use (again when the lock file or Node changes).
Node.js and npm are required in CI; elsewhere these tests are skipped
without them.
"""

import hashlib
import json
import queue
import shutil
import subprocess
import threading

import pytest

from tests.e2e.conftest import PROJECT_DIR, require_service
from tests.e2e.test_http_subscriptions import Served, serve, versions

CLIENTS_DIR = PROJECT_DIR / "tests" / "clients"
STAMP = CLIENTS_DIR / "node_modules" / ".installed"
INSTALL_TIMEOUT_SECONDS = 300
LINE_TIMEOUT_SECONDS = 30
# "urql" negotiates (it accepts both and gets SSE); "urql-multipart" asks for the multipart protocol alone.
LIBRARIES = ["apollo", "urql", "urql-multipart", "graphql-sse"]


@pytest.fixture(scope="session")
def node_clients():
    """`npm ci` in tests/clients unless node_modules matches the lock file and Node already."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        require_service("Node.js", f"{' and '.join(missing)} not on PATH")
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    key = f"{hashlib.sha256((CLIENTS_DIR / 'package-lock.json').read_bytes()).hexdigest()} {node}"
    if not (STAMP.exists() and STAMP.read_text() == key):
        installed = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CLIENTS_DIR,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_SECONDS,
        )
        if installed.returncode != 0:
            require_service("the npm registry", installed.stderr[-2000:])
        STAMP.write_text(key)


class Client:
    """`node subscribe.mjs`: one subscription by one library; each line is what the library handed over."""

    def __init__(self, library: str, served: Served, *, token: str | None = None, submission_id: str | None = None):
        token = served.owner_token if token is None else token
        self.process = subprocess.Popen(
            ["node", "subscribe.mjs", library, served.server.http_url, token, submission_id or served.submission_id],
            cwd=CLIENTS_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self) -> dict:
        try:
            line = self.lines.get(timeout=LINE_TIMEOUT_SECONDS)
        except queue.Empty:
            raise AssertionError(f"nothing from the client in {LINE_TIMEOUT_SECONDS} s") from None
        assert line is not None, f"the client exited: {self.process.stderr.read()}"
        return line

    def results(self, count: int) -> list[dict]:
        found = [self.next() for _ in range(count)]
        assert all("next" in line for line in found), found
        return [{"data": line["next"]} for line in found]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def served(project, node_clients, library):
    # urql re-hands its last result to the application on every multipart
    # heartbeat ({}), as the README says: for it alone, none comes during a test.
    if library == "urql-multipart":
        return serve(project, HTTP_STREAM_HEARTBEAT_SECONDS="600")
    return serve(project)


@pytest.mark.parametrize("library", [library for library in LIBRARIES if library != "urql-multipart"])
def test_a_client_library_hands_over_nothing_for_heartbeats(project, node_clients, library):
    served = serve(project, HTTP_STREAM_HEARTBEAT_SECONDS="0.2")
    client = Client(library, served)
    try:
        (snapshot,) = client.results(1)
        # Nothing to hand over while the stream is idle: only heartbeats come.
        with pytest.raises(queue.Empty):
            client.lines.get(timeout=1.5)
        changed = served.change("LOADED", "after the heartbeats")
        (change,) = client.results(1)
    finally:
        client.stop()

    assert versions([snapshot, change]) == [1, changed]


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_client_library_gets_the_snapshot_then_three_changes_in_order(served, library):
    client = Client(library, served)
    try:
        (snapshot,) = client.results(1)
        changed = [served.change(status, status.lower()) for status in ("LOADED", "READY", "ERROR")]
        changes = client.results(3)
    finally:
        client.stop()

    assert versions([snapshot]) == [1]
    assert versions(changes) == changed == [2, 3, 4]
    assert [change["data"]["submissionStatus"]["status"] for change in changes] == ["LOADED", "READY", "ERROR"]


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_client_library_is_told_not_found_and_the_subscription_completes(served, library):
    client = Client(library, served, submission_id="999")
    try:
        error, end = client.next(), client.next()
    finally:
        client.stop()

    assert [e["extensions"]["code"] for e in error["errors"]] == ["NOT_FOUND"]
    assert end == {"complete": True}


@pytest.mark.parametrize("library", LIBRARIES)
def test_a_client_library_without_credentials_is_told_unauthenticated(served, library):
    client = Client(library, served, token="")
    try:
        error = client.next()
    finally:
        client.stop()

    assert [e["extensions"]["code"] for e in error["errors"]] == ["UNAUTHENTICATED"]
