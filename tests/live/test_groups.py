"""Subscriptions multiplexed: one execution per change for a group, each member in order, laggards caught up."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.db.models import F

from api.auth import Viewer
from api.schema import schema
from live.groups import HISTORY_SIZE, Document, Group
from submissions import events, services
from submissions.models import Status, Submission

pytestmark = pytest.mark.django_db(transaction=True)

QUERY = "subscription ($id: ID!) { submissionStatus(submissionId: $id) { version message } }"
TIMEOUT_SECONDS = 5


class RecordingSubscriber:
    """A subscription whose client reads when the test says so (live.groups.Subscriber)."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.received = asyncio.Queue()
        self.reading = True
        self._resumed = asyncio.Event()

    def can_send_now(self):
        return self.reading

    async def writable(self):
        while not self.reading:
            await self._resumed.wait()
        return True

    async def send_result(self, payload):
        self.received.put_nowait(json.loads(payload))
        return True

    async def complete(self):
        self.received.put_nowait("complete")

    async def fail(self, error):
        self.received.put_nowait(f"failed: {error}")

    def stop_reading(self):
        self.reading = False
        self._resumed.clear()

    def read_again(self):
        self.reading = True
        self._resumed.set()

    async def next(self):
        message = await asyncio.wait_for(self.received.get(), TIMEOUT_SECONDS)
        return message if isinstance(message, str) else message["data"]["submissionStatus"]

    async def versions(self, count):
        return [(await self.next())["version"] for _ in range(count)]


@pytest.fixture
def executions():
    return []


@pytest.fixture
def group(submission, executions):
    async def execute(root, document, variables):
        executions.append(root.version)
        result = await schema.execute(
            document.query, variable_values=variables, context_value={"viewer": None}, root_value=root
        )
        return json.dumps({"data": result.data})

    variables = {"id": str(submission.pk)}
    return Group(
        submission_id=str(submission.pk),
        document=Document(QUERY, None, json.dumps(variables)),
        variables=variables,
        execute=execute,
        on_empty=lambda group: None,
    )


def viewer_of(caller):
    return Viewer(user=caller.user, is_service=False)


async def change(submission, message):
    await sync_to_async(services.set_status)(submission, Status.LOADED, message)


async def test_a_change_is_executed_once_for_all_members_and_reaches_each(group, owner, submission, executions):
    members = [RecordingSubscriber(viewer_of(owner)) for _ in range(5)]
    await asyncio.gather(*(group.add(member) for member in members))
    assert [(await member.next())["version"] for member in members] == [1] * 5
    # The first to ask reads at once; those asking meanwhile share the next read.
    assert len(executions) <= 2, "members joining at once share snapshot reads, and each read is executed once"

    executions.clear()
    await change(submission, "for everyone")
    assert [(await member.next())["message"] for member in members] == ["for everyone"] * 5
    assert executions == [2]


async def test_a_member_that_stops_reading_is_caught_up_in_order_from_the_history(group, owner, submission):
    member, witness = RecordingSubscriber(viewer_of(owner)), RecordingSubscriber(viewer_of(owner))
    for subscriber in (member, witness):
        await group.add(subscriber)
        await subscriber.next()
    member.stop_reading()
    for n in range(3):
        await change(submission, f"change {n}")
    assert await witness.versions(3) == [2, 3, 4]
    assert member.received.empty(), "nothing is sent to a client that is not reading"

    member.read_again()
    assert await member.versions(3) == [2, 3, 4]


async def test_a_member_further_behind_than_the_history_gets_a_snapshot(group, owner, submission):
    member, witness = RecordingSubscriber(viewer_of(owner)), RecordingSubscriber(viewer_of(owner))
    for subscriber in (member, witness):
        await group.add(subscriber)
        await subscriber.next()
    member.stop_reading()
    for n in range(HISTORY_SIZE + 2):
        await change(submission, f"change {n}")
    latest = HISTORY_SIZE + 3
    assert (await witness.versions(HISTORY_SIZE + 2))[-1] == latest

    member.read_again()
    assert await member.versions(1) == [latest], "straight to the submission as it is now"


async def test_a_resync_makes_every_member_read_the_submission_again(group, owner, submission):
    member = RecordingSubscriber(viewer_of(owner))
    await group.add(member)
    await member.next()
    # Changed without an event reaching the group (as when the channel layer lost it).
    await Submission.objects.filter(pk=submission.pk).aupdate(
        message="changed behind the group's back", version=F("version") + 1
    )

    group.resync()
    assert (await member.next())["message"] == "changed behind the group's back"


async def test_a_deleted_submission_completes_every_member(group, owner, submission):
    members = [RecordingSubscriber(viewer_of(owner)) for _ in range(2)]
    for member in members:
        await group.add(member)
        await member.next()
    await group.deliver(events.deleted_event(submission_id=submission.pk, version=2))
    assert [await member.next() for member in members] == ["complete", "complete"]
    assert len(group) == 0


async def test_a_member_that_may_not_see_the_submission_is_refused(group, other_owner):
    with pytest.raises(Exception, match="not found"):
        await group.add(RecordingSubscriber(viewer_of(other_owner)))
    assert len(group) == 0


async def test_a_late_event_is_sent_to_no_one(group, owner, submission):
    member = RecordingSubscriber(viewer_of(owner))
    await group.add(member)
    await member.next()
    await change(submission, "second")
    assert (await member.next())["version"] == 2
    await sync_to_async(submission.refresh_from_db)()
    stale = events.status_event(submission, has_records=False)
    stale["version"] = 2
    await group.deliver(stale)
    assert member.received.empty()
