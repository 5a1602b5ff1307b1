"""Subscriptions over HTTP (multipart and Server-Sent Events) against a real server, over real sockets."""

import json
import queue
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import PROJECT_DIR, Project, Server, require_service
from tests.e2e.http_stream import SUBSCRIPTION, Stream

PROTOCOLS = ["multipart", "sse"]
CREATE = 'mutation { createSubmission(input: {title: "Herd", description: ""}) { id } }'
UPDATE = """mutation ($id: ID!, $status: SubmissionStatus!, $message: String) {
  updateSubmissionStatus(input: {id: $id, status: $status, message: $message, force: true}) { version }
}"""
DELETE = "mutation ($id: ID!) { deleteSubmission(id: $id) }"


@dataclass
class Served:
    server: Server
    owner_token: str
    service_token: str
    submission_id: str

    def change(self, status: str, message: str) -> int:
        result = self.server.execute(
            UPDATE, {"id": self.submission_id, "status": status, "message": message}, token=self.service_token
        )
        assert "errors" not in result, result
        return result["data"]["updateSubmissionStatus"]["version"]

    def subscribe(self, protocol: str, *, token: str | None = None, submission_id: str | None = None) -> Stream:
        return Stream(
            self.server.http_url,
            protocol,
            token=self.owner_token if token is None else token,
            submission_id=submission_id or self.submission_id,
        )


def serve(project: Project, server: str = "uvicorn", **settings: str) -> Served:
    project.env.update(settings)
    started = project.start_server(server=server)
    owner_token = project.manage("create_api_token", "olivia", "--create-user").strip()
    service_token = project.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    created = started.execute(CREATE, token=owner_token)
    return Served(started, owner_token, service_token, created["data"]["createSubmission"]["id"])


def versions(results: list[dict]) -> list[int]:
    return [result["data"]["submissionStatus"]["version"] for result in results]


def error_codes(payload: dict) -> list[str]:
    return [error["extensions"]["code"] for error in payload.get("errors", [])]


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_subscription_over_http_gets_the_snapshot_then_each_change_in_version_order(project, protocol, server):
    served = serve(project, server)

    with served.subscribe(protocol) as stream:
        assert stream.response.status == 200
        (snapshot,) = stream.results(1)
        changed = [served.change(status, f"step {step}") for step, status in enumerate(["LOADED", "READY", "ERROR"])]
        changes = stream.results(3)

    assert snapshot["data"]["submissionStatus"] == {"version": 1, "status": "WAITING", "message": None}
    assert versions(changes) == changed == [2, 3, 4]
    assert [change["data"]["submissionStatus"]["message"] for change in changes] == ["step 0", "step 1", "step 2"]


@pytest.mark.parametrize(
    ("protocol", "content_type"),
    [
        ("multipart", 'multipart/mixed;boundary="graphql";subscriptionSpec="1.0"'),
        ("sse", "text/event-stream; charset=utf-8"),
    ],
)
def test_the_stream_says_its_protocol_and_that_no_one_may_cache_or_buffer_it(project, protocol, content_type):
    served = serve(project)

    with served.subscribe(protocol) as stream:
        headers = {name.lower(): value for name, value in stream.response.getheaders()}

    assert headers["content-type"] == content_type
    assert headers["cache-control"] == "no-cache, no-transform"
    assert headers["x-accel-buffering"] == "no"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_submission_that_does_not_exist_is_not_found_and_the_stream_ends(project, protocol):
    served = serve(project)

    with served.subscribe(protocol, submission_id="999") as stream:
        (error,) = stream.results(1)
        rest = stream.rest()

    assert error_codes(error) == ["NOT_FOUND"]
    assert [message.kind for message in rest] == ["complete"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_another_owners_submission_reads_as_not_found(project, protocol):
    served = serve(project)
    stranger = project.manage("create_api_token", "oscar", "--create-user").strip()

    with served.subscribe(protocol, token=stranger) as stream:
        (error,) = stream.results(1)

    assert error_codes(error) == ["NOT_FOUND"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_anonymous_subscription_is_unauthenticated_and_the_stream_ends(project, protocol):
    served = serve(project)

    with served.subscribe(protocol, token="") as stream:
        (error,) = stream.results(1)
        rest = stream.rest()

    assert error_codes(error) == ["UNAUTHENTICATED"]
    assert [message.kind for message in rest] == ["complete"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_invalid_token_is_unauthenticated_never_anonymous(project, protocol):
    served = serve(project)

    with served.subscribe(protocol, token="not-a-token") as stream:
        (error,) = stream.results(1)

    assert error_codes(error) == ["UNAUTHENTICATED"]
    assert "Invalid API token" in error["errors"][0]["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_deleting_the_submission_completes_its_stream(project, protocol):
    served = serve(project)
    served.change("LOADED", "deletable")  # a WAITING submission cannot be deleted

    with served.subscribe(protocol) as stream:
        stream.results(1)
        deleted = served.server.execute(DELETE, {"id": served.submission_id}, token=served.owner_token)
        rest = stream.rest()

    assert deleted["data"]["deleteSubmission"] == served.submission_id
    assert [message.kind for message in rest] == ["complete"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_document_over_the_limits_is_refused_in_the_stream(project, protocol):
    served = serve(project)
    aliases = " ".join(f"v{number}: version" for number in range(31))  # GRAPHQL_MAX_ALIASES is 30
    query = f"subscription ($id: ID!) {{ submissionStatus(submissionId: $id) {{ {aliases} }} }}"

    with Stream(
        served.server.http_url, protocol, token=served.owner_token, submission_id=served.submission_id, query=query
    ) as stream:
        (error,) = stream.results(1)
        rest = stream.rest()

    assert error_codes(error) == ["BAD_USER_INPUT"]
    assert error.get("data") is None
    assert [message.kind for message in rest] == ["complete"]


@pytest.mark.parametrize(("protocol", "heartbeat"), [("multipart", "{}"), ("sse", ":")])
def test_an_idle_stream_gets_heartbeats(project, protocol, heartbeat):
    served = serve(project, HTTP_STREAM_HEARTBEAT_SECONDS="0.2")

    with served.subscribe(protocol) as stream:
        stream.results(1)
        messages = [stream.next().kind for _ in range(2)]

    assert messages == ["heartbeat", "heartbeat"]


# How each protocol ends a stream early: multipart with a transport error (no
# payload, top-level errors) and its closing boundary; SSE with a `next` carrying
# the error, then `complete` unless the client should subscribe again (graphql-sse
# clients retry a stream that ends without it).
ENDED_EARLY = {
    ("multipart", False): ["ended", "complete"],
    ("multipart", True): ["ended", "complete"],
    ("sse", False): ["result", "complete"],
    ("sse", True): ["result"],
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_stream_whose_token_is_deleted_ends_with_unauthenticated(project, protocol):
    served = serve(project, WEBSOCKET_ACCESS_RECHECK_SECONDS="0.3")

    with served.subscribe(protocol) as stream:
        stream.results(1)
        project.python("from api.models import ApiToken; ApiToken.objects.filter(user__username='olivia').delete()")
        rest = stream.rest()

    assert [message.kind for message in rest] == ENDED_EARLY[protocol, False]
    assert error_codes(rest[0].body) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_streams_count_against_the_connections_of_their_credentials(project, protocol):
    served = serve(project, WEBSOCKET_MAX_CONNECTIONS_PER_CREDENTIAL="1")

    with served.subscribe(protocol) as first:
        first.results(1)
        with served.subscribe(protocol) as second:
            status, body = second.response.status, json.loads(second.response.read())

    assert status == 429
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "hold 1 connections already" in body["errors"][0]["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_under_daphne_a_client_sent_more_than_its_budget_is_cut_off_and_told_to_subscribe_again(project, protocol):
    # Daphne's send never waits for the client: a send budget bounds what may be sent ahead.
    served = serve(project, "daphne", HTTP_STREAM_SEND_BUFFER_BYTES="600", HTTP_STREAM_SEND_BYTES_PER_SECOND="1")

    with served.subscribe(protocol) as stream:
        stream.results(1)
        for step in range(6):
            served.change("LOADED", f"step {step}")
        rest = [message for message in stream.rest() if message.kind != "result" or "errors" in message.body]

    assert [message.kind for message in rest] == ENDED_EARLY[protocol, True]
    assert error_codes(rest[0].body) == ["CLIENT_TOO_SLOW"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_under_uvicorn_a_reading_client_gets_everything_whatever_the_send_budget(project, protocol):
    # uvicorn's send waits while the client does not read: the socket bounds what is sent ahead.
    served = serve(project, "uvicorn", HTTP_STREAM_SEND_BUFFER_BYTES="600", HTTP_STREAM_SEND_BYTES_PER_SECOND="1")

    with served.subscribe(protocol) as stream:
        stream.results(1)
        changed = [served.change("LOADED", f"step {step}") for step in range(6)]
        changes = stream.results(6)

    assert versions(changes) == changed
    assert all(error_codes(change) == [] for change in changes)


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json", None])
def test_a_subscription_over_plain_json_http_is_refused_saying_what_to_use(project, accept):
    served = serve(project)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {served.owner_token}"}
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(
        served.server.http_url,
        data=json.dumps({"query": SUBSCRIPTION, "variables": {"id": served.submission_id}}).encode(),
        headers=headers,
    )

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)

    assert refused.value.code == 406
    message = json.loads(refused.value.read())["errors"][0]["message"]
    for what in ("multipart/mixed;subscriptionSpec=1.0", "text/event-stream", "WebSocket"):
        assert what in message


def _readme_curl_command() -> str:
    blocks = re.findall(r"^```sh\n(.*?)^```", (PROJECT_DIR / "README.md").read_text(), re.M | re.S)
    (command,) = [block for block in blocks if block.startswith("curl -N")]
    return command


def test_the_readmes_curl_command_gets_the_snapshot_then_each_change(project):
    if shutil.which("curl") is None:
        require_service("curl", "not on PATH")
    project.manage("demo")  # the README's submission 2
    served = serve(project)
    command = _readme_curl_command().replace("http://127.0.0.1:8000", f"http://127.0.0.1:{served.server.port}")
    curl = subprocess.Popen(
        ["bash", "-c", command],
        env={**project.env, "TOKEN": served.service_token},
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in curl.stdout], daemon=True).start()

    def next_version() -> int:
        while not (line := lines.get(timeout=30)).startswith("data: "):
            pass
        return json.loads(line.removeprefix("data: "))["data"]["submissionStatus"]["version"]

    try:
        snapshot = next_version()
        for status in ("LOADED", "READY", "COMPLETED"):
            project.manage("set_submission_status", "2", status, "--message", status.title(), "--force")
        changes = [next_version() for _ in range(3)]
    finally:
        curl.terminate()
        curl.wait()

    assert changes == [snapshot + 1, snapshot + 2, snapshot + 3]
