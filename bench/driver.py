"""The change driver: changes sent over HTTP at a steady pace.

A change is the updateSubmissionStatus mutation, sent with the service
token; for the raw baseline, which has no GraphQL and no database, it is a
POST to /bench/raw/broadcast/.
"""

import json
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench import wire

REQUEST_TIMEOUT_SECONDS = 10.0


class GraphQLError(Exception):
    pass


class GraphQLHttp:
    """POSTs GraphQL to one server, bypassing any proxy (traffic stays on 127.0.0.1)."""

    def __init__(self, http_base: str, token: str):
        self.url = http_base + "/graphql/"
        self.token = token
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def execute(self, query: str, variables: dict) -> dict:
        """The `data` of the response; raises GraphQLError when it carries errors."""
        body = self.post(self.url, {"query": query, "variables": variables})
        if body.get("errors"):
            raise GraphQLError(body["errors"][0].get("message", body["errors"]))
        return body["data"]

    def post(self, url: str, document: dict) -> dict:
        request = urllib.request.Request(
            url,
            data=json.dumps(document).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with self._opener.open(request, timeout=REQUEST_TIMEOUT_SECONDS) as response:
            return json.loads(response.read())

    def change_status(self, submission_id: str, message: str) -> int:
        """One status change through the mutation; returns the version it made."""
        variables = {"input": {"id": submission_id, "status": "LOADED", "message": message}}
        return self.execute(wire.UPDATE_STATUS, variables)["updateSubmissionStatus"]["version"]

    def raw_broadcast(self, submission_id: str, message: str) -> int:
        """One message to the raw baseline's sockets of `submission_id`; returns the version it gave."""
        url = self.url.removesuffix("/graphql/") + "/bench/raw/broadcast/"
        return self.post(url, {"submission_id": submission_id, "message": message})["version"]


def create_submissions(client: GraphQLHttp, count: int) -> list[str]:
    """Create `count` submissions through the createSubmission mutation; returns their ids."""
    return [
        client.execute(wire.CREATE_SUBMISSION, {"title": f"bench {n}"})["createSubmission"]["id"] for n in range(count)
    ]


@dataclass
class Change:
    seq: int
    submission_id: str
    sent_at: float = 0.0  # time.time() just before the POST
    duration_s: float = 0.0  # of the POST, response included
    version: int | None = None  # the submission's version this change made, from the response
    error: str | None = None


def drive_changes(
    send_change: Callable[[str, str], int], submission_ids: list[str], count: int, interval_s: float, senders: int
) -> list[Change]:
    """Send `count` status changes, one every `interval_s`, round-robin over the submissions.

    Up to `senders` POSTs are in flight at once, so that a slow response does
    not hold back the pace; with one, the pace slips whenever a POST takes
    longer than the interval.
    """
    changes = [Change(seq=seq, submission_id=submission_ids[seq % len(submission_ids)]) for seq in range(count)]

    def send(change: Change) -> None:
        change.sent_at = time.time()
        try:
            change.version = send_change(change.submission_id, wire.change_message(change.seq, change.sent_at))
        except Exception as error:  # an HTTP, network or GraphQL failure: that change is not expected
            change.error = f"{type(error).__name__}: {error}"
        change.duration_s = time.time() - change.sent_at

    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="change") as pool:
        for change in changes:
            delay = start + change.seq * interval_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, change)
        # Leaving the block waits for the sends, each bounded by REQUEST_TIMEOUT_SECONDS.
    return changes
