"""A plain client of the two HTTP subscription protocols, reading a real server's response as it streams."""

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

MULTIPART_ACCEPT = "multipart/mixed;subscriptionSpec=1.0, application/json"
SSE_ACCEPT = "text/event-stream"
ACCEPT = {"multipart": MULTIPART_ACCEPT, "sse": SSE_ACCEPT}
READ_TIMEOUT_SECONDS = 15
# Heartbeats keep a stream from timing out: what is awaited must come within this.
END_TIMEOUT_SECONDS = 30
SUBSCRIPTION = "subscription ($id: ID!) { submissionStatus(submissionId: $id) { version status message } }"


@dataclass
class Message:
    """What the stream said: a result (`payload`), a heartbeat, its completion, or an error that ended it early."""

    kind: str  # "result", "heartbeat", "complete", "ended"
    body: dict | None = None


class Stream:
    """One subscription over HTTP: `next()` reads the next message, waiting at most READ_TIMEOUT_SECONDS."""

    def __init__(self, url: str, protocol: str, *, token: str | None, submission_id: str, query: str = SUBSCRIPTION):
        parts = urlsplit(url)
        self.protocol = protocol
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=READ_TIMEOUT_SECONDS)
        headers = {"Content-Type": "application/json", "Accept": ACCEPT[protocol]}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps({"query": query, "variables": {"id": submission_id}})
        self.connection.request("POST", parts.path, body=body, headers=headers)
        self.response = self.connection.getresponse()
        self.ended = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self) -> None:
        self.connection.close()

    def _line(self) -> str:
        line = self.response.readline()
        if not line:
            self.ended = True
            raise EOFError("the response ended")
        return line.decode()

    def next(self) -> Message:
        return self._next_part() if self.protocol == "multipart" else self._next_event()

    def _next_part(self) -> Message:
        while True:
            line = self._line().rstrip("\r\n")
            if line == "--graphql--":
                return Message("complete")
            if line.startswith("{"):
                body = json.loads(line)
                if body == {}:
                    return Message("heartbeat")
                if body.get("payload") is None and "errors" in body:
                    return Message("ended", body)
                return Message("result", body["payload"])

    def _next_event(self) -> Message:
        event, data = None, ""
        while True:
            line = self._line().rstrip("\n")
            if line.startswith(":"):
                return Message("heartbeat")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data = line.split(":", 1)[1].strip()
            elif line == "" and event is not None:
                return Message("complete") if event == "complete" else Message("result", json.loads(data))

    def results(self, count: int) -> list[dict]:
        """The next `count` results, heartbeats skipped."""
        found = []
        while len(found) < count:
            message = self.next()
            if message.kind == "result":
                found.append(message.body)
            elif message.kind != "heartbeat":
                raise AssertionError(f"expected a result, got {message}")
        return found

    def rest(self) -> list[Message]:
        """Every message until the response ends, heartbeats skipped."""
        messages = []
        deadline = time.monotonic() + END_TIMEOUT_SECONDS
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"the stream did not end in {END_TIMEOUT_SECONDS} s: {messages}")
            try:
                message = self.next()
            except EOFError:
                return messages
            if message.kind != "heartbeat":
                messages.append(message)
