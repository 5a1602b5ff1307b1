"""Notices to workers that a work request was stored: a wake-up call, never the work itself.

The work lives in the database (WorkRequest), so a notice may be lost
(the channel layer is at-most-once, or no worker listens) without losing
work: workers read what is claimable when they subscribe, and again on a
timer. That is why a notice is sent once, after commit, with no retries,
apart from the submission events (submissions.events) that carry state.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from submissions.models import WorkRequest

logger = logging.getLogger(__name__)

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
    transaction.on_commit(partial(_send, notice(request)))


def _send(message: dict) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(GROUP, message)
    except Exception:
        logger.warning(
            "Could not notify workers of work request %s; they find it when they next look",
            message["request_id"],
            exc_info=True,
        )
