"""The pages a person uses: their submissions, and a live details page for each."""

import json

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from api.auth import viewer_for_user
from submissions import selectors
from submissions.exceptions import NotFound
from submissions.status_guide import MEANINGS, status_guide

# The pages load scripts and styles from this server only, and talk to it
# over HTTP and WebSocket; nothing inline. Their Content-Security-Policy is
# the one of every page (settings.CONTENT_SECURITY_POLICY).


def _page(request, template: str, context: dict):
    # The navigation links only to what this server serves.
    return render(request, template, {"graphiql": settings.GRAPHIQL, **context})


@login_required
def submission_list(request):
    submissions = selectors.submission_list(viewer=viewer_for_user(request.user), first=selectors.MAX_PAGE_SIZE)
    # One WebSocket follows every row, one operation each: no more rows than
    # the server lets a connection run are followed live.
    context = {"submissions": submissions, "live_limit": settings.WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION}
    return _page(request, "submissions/list.html", context)


@login_required
def submission_detail(request, submission_id: int):
    try:
        submission = selectors.submission_get(viewer=viewer_for_user(request.user), submission_id=submission_id)
    except NotFound:
        raise Http404("No such submission.") from None  # another owner's reads the same
    meaning, next_step = MEANINGS[submission.status]
    guide = status_guide()
    context = {
        "submission": submission,
        "meaning": meaning,
        "next_step": next_step,
        "guide": guide,
        "guide_json": json.dumps(guide),
        # Delete is set apart from these, with its own confirmation.
        "actions": [("canEdit", "Edit"), ("canValidate", "Validate"), ("canSubmit", "Submit")],
    }
    return _page(request, "submissions/detail.html", context)
