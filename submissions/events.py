"""Submission events: what the channel layer carries, and the one path that publishes them.

An event is a plain JSON value (house rule: the channel layer carries nothing
else). It is built by the publisher inside the transaction that made the
change, with the validation summary already computed, and sent only after
that transaction commits, so a rolled-back change is never seen.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from submissions import rules
from submissions.models import Submission

logger = logging.getLogger(__name__)

STATUS_CHANGED = "submission.status"
DELETED = "submission.deleted"


def group_name(submission_id: int | str) -> str:
    """The channel-layer group of one submission's events."""
    return f"submission.{int(submission_id)}"


def status_event(
    submission: Submission,
    *,
    has_records: bool,
    validation_summary: dict | None = None,
    progress: dict | None = None,
) -> dict:
    """The event that describes `submission` as it is now."""
    return {
        "type": STATUS_CHANGED,
        "submission_id": str(submission.pk),
        "version": submission.version,
        "status": str(submission.status),
        "message": submission.message,
        "actions": rules.actions_for(status=submission.status, has_records=has_records),
        "validation_summary": validation_summary,
        "progress": progress,
        "at": timezone.now().isoformat(),
    }


def deleted_event(*, submission_id: int, version: int) -> dict:
    return {"type": DELETED, "submission_id": str(submission_id), "version": version}


def publish_on_commit(event: dict) -> None:
    """Send `event` to the submission's subscribers once the current transaction commits."""
    transaction.on_commit(partial(_send, event))


def _send(event: dict) -> None:
    # The change is committed whatever happens here; subscribers that miss
    # this event catch up from the next one (a version gap) or a snapshot.
    try:
        async_to_sync(get_channel_layer().group_send)(group_name(event["submission_id"]), event)
    except Exception:
        logger.exception(
            "Could not publish %s of submission %s (version %s)",
            event["type"],
            event["submission_id"],
            event["version"],
        )
