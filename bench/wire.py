"""What the benchmark sends and recognises: the subscription document and the change message."""

SUBSCRIPTION = """subscription ($id: ID!) {
  submissionStatus(submissionId: $id) { version status message validationSummary { animals { total } } }
}"""

UPDATE_STATUS = """mutation ($input: UpdateSubmissionStatusInput!) {
  updateSubmissionStatus(input: $input) { version }
}"""

CREATE_SUBMISSION = """mutation ($title: String!) { createSubmission(input: {title: $title}) { id } }"""

_PREFIX = "bench"


def change_message(seq: int, sent_at: float) -> str:
    """The `message` of change `seq`: clients find the change, and so its send time, from it."""
    return f"{_PREFIX} {seq} {sent_at:.6f}"


def change_seq(message: str | None) -> int | None:
    """The sequence number in a change message; None for anything else (a snapshot)."""
    if not message or not message.startswith(_PREFIX + " "):
        return None
    try:
        return int(message.split(" ", 2)[1])
    except (IndexError, ValueError):
        return None
