"""Notices to workers that a work request was stored: a wake-up call, never the work itself.

The work lives in the database (WorkRequest), so a notice may be lost
(the channel layer is at-most-once, or no worker listens) without losing
work: workers read what is claimable when they subscribe, and again on a
timer. That is why a notice is sent once, after commit, with no retries
(submissions.events.notify_on_commit), unlike the submission events that
carry state.
"""

from submissions import events
from submissions.models import WorkRequest

GROUP = "work.requests"
WORK_REQUESTED = "work.requested"


def notice(request: WorkRequest) -> dict:
    """The notice of `request`: a plain JSON value."""
    return {
        "type": WORK_REQUESTED,
        "request_id": str(request.pk),
        "submission_id": str(request.submission_id),
        "kind": str(request.kind),
    }


def publish_on_commit(request: WorkRequest) -> None:
    """Tell the workers listening that `request` may be claimed, once the current transaction commits."""
    events.notify_on_commit(GROUP, notice(request))
