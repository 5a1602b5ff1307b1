"""Every fenced block of the README runs, as a reader would run it, against a real server with the demo data.

Blocks run in the README's order, in one project (SQLite, the embedded
Redis, `manage.py demo`, the default server), so the state flows as it does
for a reader following along. What each kind of block does:

- `sh`: run by bash from the project folder; it must exit 0, and no JSON it
  prints may carry GraphQL `errors`.
- `python`: run by the project's Python with Django set up and `submission`
  bound to the demo submission 2; it must exit 0.
- `graphql`: validated against the schema, then executed on the server
  (a subscription over WebSocket, until its first event); no errors.
- `js`: run as a module in Chromium, on a page of the server, with the
  vendored `graphql-ws` standing for the `import`; it must render an event.

The README's `http://127.0.0.1:8000` and `ws://127.0.0.1:8000` are the test
server's address; `<token>`, `$TOKEN` and the scripts' `token` are a service
token. An HTML comment on the line above a fence says how a block is run
differently, and why:

- `<!-- readme: not run: <why> -->`: not run here (the reason is required);
- `<!-- readme: runs until stopped -->`: a long-running example; it passes
  once it prints its first line and is still running.

A block with neither a runner nor a mark fails: the README cannot gain an
example that nothing checks.
"""

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from graphql import OperationType, build_schema, get_operation_ast, parse, validate
from playwright.sync_api import sync_playwright

from api.embedded_redis import stop_server
from tests.e2e.client import GraphQLWebSocket
from tests.e2e.conftest import PROJECT_DIR, Project, graphql_post, require_service

README = PROJECT_DIR / "README.md"
# The contract, as checked in (tests/test_schema_file.py keeps it true to the code).
SCHEMA = build_schema((PROJECT_DIR / "schema.graphql").read_text())
RUN_TIMEOUT_SECONDS = 120
FIRST_LINE_TIMEOUT_SECONDS = 30
BROWSER_TIMEOUT_MS = 15_000
README_ADDRESS = re.compile(r"\b(https?|wss?)://127\.0\.0\.1:8000\b")
FENCE = re.compile(r"^(?P<indent> *)```(?P<language>[\w-]*)\n(?P<body>.*?)^(?P=indent)```\s*$", re.M | re.S)
MARK = re.compile(r"<!--\s*readme:\s*(?P<mark>.*?)\s*-->\s*$")
NOT_RUN = re.compile(r"not run: \S")
RUNS_UNTIL_STOPPED = "runs until stopped"
PYTHON_PRELUDE = """\
import django

django.setup()
from submissions.models import Submission

submission = Submission.objects.get(pk=2)
"""


@dataclass(frozen=True)
class Block:
    language: str
    body: str
    line: int
    mark: str | None

    @property
    def id(self) -> str:
        return f"line-{self.line}-{self.language or 'text'}"


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of `text`, dedented, each with the mark on the line above it (if any)."""
    blocks = []
    for fence in FENCE.finditer(text):
        before = text[: fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        indent = len(fence["indent"])
        body = "".join(line[indent:] for line in fence["body"].splitlines(keepends=True))
        blocks.append(
            Block(
                language=fence["language"],
                body=body,
                line=text.count("\n", 0, fence.start()) + 1,
                mark=mark["mark"] if mark else None,
            )
        )
    return blocks


BLOCKS = readme_blocks(README.read_text())


@dataclass
class Reader:
    """The project as the README's reader has it: a running server with the demo data, and a service token."""

    project: Project
    port: int
    token: str

    def substitute(self, text: str) -> str:
        text = README_ADDRESS.sub(lambda address: f"{address[1]}://127.0.0.1:{self.port}", text)
        return text.replace("<token>", self.token)

    @property
    def env(self) -> dict:
        return {**self.project.env, "TOKEN": self.token}


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    socket_path = folder / "redis.sock"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "api.settings",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{folder / 'db.sqlite3'}",
        "EMBEDDED_REDIS_SOCKET": str(socket_path),
        "REDIS_URL": "",
    }
    project = Project(env=env, folder=folder)
    project.manage("migrate", "--noinput")
    project.manage("demo")
    server = project.start_server(server="uvicorn")
    token = project.manage("create_api_token", "readme-pipeline", "--create-user", "--service").strip()
    yield Reader(project=project, port=server.port, token=token)
    server.stop()
    stop_server(socket_path)


def assert_no_graphql_errors(output: str) -> None:
    for line in output.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        assert not (isinstance(value, dict) and value.get("errors")), line


def _start(command: list[str], reader: Reader) -> subprocess.Popen:
    # A session of its own, so that a block is stopped with everything it started.
    return subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=reader.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_sh(block: Block, reader: Reader) -> None:
    command = ["bash", "-euo", "pipefail", "-c", reader.substitute(block.body)]
    if block.mark == RUNS_UNTIL_STOPPED:
        return assert_prints_then_runs(command, reader)
    process = _start(command, reader)
    try:
        stdout, stderr = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, stdout + stderr
    assert_no_graphql_errors(stdout)


def run_python(block: Block, reader: Reader) -> None:
    command = [sys.executable, "-c", PYTHON_PRELUDE + reader.substitute(block.body)]
    if block.mark == RUNS_UNTIL_STOPPED:
        return assert_prints_then_runs(command, reader)
    result = subprocess.run(
        command, cwd=PROJECT_DIR, env=reader.env, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS
    )
    assert result.returncode == 0, result.stdout + result.stderr


def assert_prints_then_runs(command: list[str], reader: Reader) -> None:
    """A long-running example: it prints a first line that is not an error, and is still running."""
    process = _start(command, reader)
    try:
        first_line = []
        reading = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)
        reading.start()
        reading.join(FIRST_LINE_TIMEOUT_SECONDS)
        assert first_line and first_line[0], f"nothing printed: {process.poll()=}"
        assert process.poll() is None, process.stderr.read()
        assert "error" not in first_line[0].lower(), first_line[0]
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def run_graphql(block: Block, reader: Reader) -> None:
    document = parse(block.body)
    assert validate(SCHEMA, document) == []
    operation = get_operation_ast(document)
    if operation.operation != OperationType.SUBSCRIPTION:
        result = graphql_post(f"http://127.0.0.1:{reader.port}/graphql/", block.body, token=reader.token)
        assert "errors" not in result, result
        return

    async def first_event():
        client = GraphQLWebSocket(f"ws://127.0.0.1:{reader.port}/graphql/")
        try:
            assert (await client.connect({"authorization": f"Bearer {reader.token}"}))["type"] == "connection_ack"
            await client.subscribe("1", {}, query=block.body)
            return await client.receive()
        finally:
            await client.close()

    message = asyncio.run(first_event())
    assert message["type"] == "next" and "errors" not in message["payload"], message


# The vendored build of the library the README imports, as the pages load it.
GRAPHQL_WS_SCRIPT = "/static/vendor/graphql-ws/umd/graphql-ws.min.js"
BROWSER_PRELUDE = """\
const { createClient } = window.graphqlWs;
const render = (event) => window.rendered.push(event);
"""


def run_js(block: Block, reader: Reader) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        require_service("Chromium", FileNotFoundError(chromium))
    body = re.sub(r'^import \{ createClient \} from "graphql-ws";\n', "", reader.substitute(block.body), flags=re.M)
    assert "import " not in body, "only the graphql-ws import is provided to the README's scripts"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_page(bypass_csp=True)
            errors = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://127.0.0.1:{reader.port}/healthz")
            page.add_script_tag(url=GRAPHQL_WS_SCRIPT)
            page.evaluate("window.rendered = []")
            page.add_script_tag(content=f"const token = {json.dumps(reader.token)};\n{BROWSER_PRELUDE}{body}")
            page.wait_for_function("window.rendered.length > 0", timeout=BROWSER_TIMEOUT_MS)
            event = page.evaluate("window.rendered[0]")
            assert event["version"] >= 1 and not errors, (event, errors)
        finally:
            browser.close()


RUNNERS = {"sh": run_sh, "python": run_python, "graphql": run_graphql, "js": run_js}


@pytest.mark.parametrize("block", [b for b in BLOCKS if not (b.mark or "").startswith("not run")], ids=lambda b: b.id)
def test_the_readme_example_runs(block, reader):
    assert block.language in RUNNERS, f"README line {block.line}: no runner for {block.language!r}; mark it"
    RUNNERS[block.language](block, reader)


def test_the_claiming_example_runs_when_no_request_is_waiting(reader):
    # As with `make run`, whose worker has usually taken the request first: the claim is null.
    block = next(b for b in BLOCKS if b.language == "python" and "claimWorkRequest" in b.body)
    reader.project.python(
        "from submissions.models import WorkRequest; WorkRequest.objects.filter(state='PENDING').delete()"
    )

    run_python(block, reader)


def test_every_block_is_run_or_says_why_not():
    for block in BLOCKS:
        assert block.mark in (None, RUNS_UNTIL_STOPPED) or NOT_RUN.match(block.mark), (block.line, block.mark)
        assert block.mark == RUNS_UNTIL_STOPPED or block.language in RUNNERS or block.mark, block.line
    assert {block.language for block in BLOCKS if block.mark is None} <= RUNNERS.keys()


def test_blocks_are_found_with_their_marks():
    text = (
        "x\n<!-- readme: not run: it needs a cluster -->\n```sh\nmake it\n```\n\n   ```graphql\n   { viewer }\n   ```\n"
    )
    assert readme_blocks(text) == [
        Block(language="sh", body="make it\n", line=3, mark="not run: it needs a cluster"),
        Block(language="graphql", body="{ viewer }\n", line=7, mark=None),
    ]


def test_the_readme_benchmark_commands_parse():
    from bench.__main__ import parser

    commands = [
        shlex.split(line, comments=True)
        for block in BLOCKS
        for line in block.body.splitlines()
        if line.startswith(".venv/bin/python -m bench ")
    ]
    assert commands
    for command in commands:
        parser().parse_args(command[3:])


# Every package of the project, the tests aside.
LAYOUT_PACKAGES = sorted(path.parent.name for path in PROJECT_DIR.glob("*/__init__.py") if path.parent.name != "tests")


def test_the_layout_names_every_module():
    (layout,) = [block.body for block in BLOCKS if block.body.startswith("api/ ")]
    named = set(re.findall(r"[\w/]+\.py|\w+/", layout))
    missing = []
    for package in LAYOUT_PACKAGES:
        for path in sorted((PROJECT_DIR / package).iterdir()):
            if path.name in ("__init__.py", "migrations", "static", "templates", "__pycache__", "node_peer"):
                continue
            if path.suffix == ".py" and path.name not in named and f"{package}/{path.name}" not in named:
                missing.append(f"{package}/{path.name}")
            elif path.is_dir() and f"{path.name}/" not in named:
                missing.append(f"{package}/{path.name}/")
    assert missing == []
