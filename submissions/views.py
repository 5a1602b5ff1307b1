"""The pages a person uses: their submissions, and a live details page for each."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from api.auth import viewer_for_user
from submissions import selectors
from submissions.exceptions import NotFound

# The pages load scripts and styles from this server only, and talk to it
# over HTTP and WebSocket; nothing inline. Their Content-Security-Policy is
# the one of every page (settings.CONTENT_SECURITY_POLICY).


def _page(request, template: str, context: dict):
    return render(request, template, context)


@login_required
def submission_list(request):
    submissions = selectors.submission_list(viewer=viewer_for_user(request.user), first=selectors.MAX_PAGE_SIZE)
    return _page(request, "submissions/list.html", {"submissions": submissions})


@login_required
def submission_detail(request, submission_id: int):
    try:
        submission = selectors.submission_get(viewer=viewer_for_user(request.user), submission_id=submission_id)
    except NotFound:
        raise Http404("No such submission.") from None  # another owner's reads the same
    return _page(request, "submissions/detail.html", {"submission": submission})
