"""Snapshot reads are shared by subscribers asking at once, never with one that asks later."""

import asyncio

import pytest

from live import snapshots
from submissions import selectors
from submissions.exceptions import NotFound
from tests.conftest import Caller

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def counted_reads(monkeypatch):
    reads = []
    read_state = selectors.submission_state

    def counting(**kwargs):
        reads.append(kwargs["submission_id"])
        return read_state(**kwargs)

    monkeypatch.setattr(selectors, "submission_state", counting)
    return reads


def viewer_of(caller: Caller):
    from api.auth import Viewer

    return Viewer(user=caller.user, is_service=False)


async def test_subscribers_asking_at_once_share_one_read(owner, submission, counted_reads):
    asked_at = snapshots.now()
    results = await asyncio.gather(
        *(
            snapshots.snapshot(viewer=viewer_of(owner), submission_id=str(submission.pk), not_before=asked_at)
            for _ in range(5)
        )
    )
    assert [event["version"] for event in results] == [1] * 5
    assert counted_reads == [str(submission.pk)]


async def test_a_subscriber_that_asks_after_a_read_started_gets_a_read_of_its_own(owner, submission, counted_reads):
    viewer = viewer_of(owner)
    first = asyncio.ensure_future(
        snapshots.snapshot(viewer=viewer, submission_id=str(submission.pk), not_before=snapshots.now())
    )
    await asyncio.sleep(0)  # the first read has started
    second = snapshots.snapshot(viewer=viewer, submission_id=str(submission.pk), not_before=snapshots.now())
    await asyncio.gather(first, second)
    assert len(counted_reads) == 2


async def test_a_shared_read_still_hides_another_owners_submission(owner, other_owner, submission, counted_reads):
    asked_at = snapshots.now()
    mine, theirs = await asyncio.gather(
        snapshots.snapshot(viewer=viewer_of(owner), submission_id=str(submission.pk), not_before=asked_at),
        snapshots.snapshot(viewer=viewer_of(other_owner), submission_id=str(submission.pk), not_before=asked_at),
        return_exceptions=True,
    )
    assert mine["version"] == 1
    assert isinstance(theirs, NotFound)
    assert len(counted_reads) == 1


async def test_a_crowd_arriving_while_a_read_runs_shares_the_read_that_follows(owner, submission, counted_reads):
    viewer = viewer_of(owner)
    first = asyncio.ensure_future(
        snapshots.snapshot(viewer=viewer, submission_id=str(submission.pk), not_before=snapshots.now())
    )
    await asyncio.sleep(0)  # the first read has started
    crowd = [
        snapshots.snapshot(viewer=viewer, submission_id=str(submission.pk), not_before=snapshots.now())
        for _ in range(5)
    ]
    await asyncio.gather(first, *crowd)
    assert len(counted_reads) == 2
