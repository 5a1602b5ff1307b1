"""Management commands: create_api_token, set_submission_status and demo."""

import hashlib
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from api.auth import viewer_for_token
from api.models import ApiToken
from submissions import services
from submissions.models import Record, RecordKind, Status, Submission, ValidationMessage, ValidationResult
from tests.conftest import GroupProbe
from worker.validation import validate

User = get_user_model()


def run(*args) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def fresh(submission) -> Submission:
    return Submission.objects.get(pk=submission.pk)


# create_api_token


@pytest.mark.django_db
def test_create_api_token_prints_the_token_alone_on_standard_output():
    User.objects.create_user(username="ingrid")

    stdout, stderr = run("create_api_token", "ingrid")

    assert stdout.endswith("\n") and stdout.count("\n") == 1
    token = stdout[:-1]
    assert token and token == token.strip() and " " not in token
    assert stderr == ""


@pytest.mark.django_db
def test_create_api_token_stores_only_the_sha256_hash_of_the_token():
    user = User.objects.create_user(username="ingrid")

    token = run("create_api_token", "ingrid")[0].strip()

    stored = ApiToken.objects.get(user=user)
    assert stored.key_hash == hashlib.sha256(token.encode()).hexdigest()
    stored_values = [str(value) for value in ApiToken.objects.filter(user=user).values().get().values()]
    assert not any(token in value for value in stored_values)


@pytest.mark.django_db
def test_a_token_from_create_api_token_authenticates_its_user_as_an_owner():
    user = User.objects.create_user(username="ingrid")

    token = run("create_api_token", "ingrid")[0].strip()

    viewer = viewer_for_token(token)
    assert (viewer.user, viewer.is_service) == (user, False)
    assert ApiToken.objects.get(user=user).is_service is False


@pytest.mark.django_db
def test_create_api_token_with_service_makes_a_service_token():
    user = User.objects.create_user(username="pipeline-2")

    token = run("create_api_token", "pipeline-2", "--service")[0].strip()

    assert ApiToken.objects.get(user=user).is_service is True
    assert viewer_for_token(token).is_service is True


@pytest.mark.django_db
def test_each_call_of_create_api_token_makes_a_new_token():
    User.objects.create_user(username="ingrid")

    first, second = run("create_api_token", "ingrid")[0], run("create_api_token", "ingrid")[0]

    assert first != second
    assert ApiToken.objects.filter(user__username="ingrid").count() == 2


@pytest.mark.django_db
def test_create_api_token_for_an_unknown_user_fails_without_create_user():
    tokens_before = ApiToken.objects.count()
    stdout = StringIO()

    with pytest.raises(CommandError, match="--create-user"):
        call_command("create_api_token", "nobody", stdout=stdout)

    assert stdout.getvalue() == ""
    assert not User.objects.filter(username="nobody").exists()
    assert ApiToken.objects.count() == tokens_before


@pytest.mark.django_db
def test_create_api_token_with_create_user_creates_the_user():
    token = run("create_api_token", "newcomer", "--create-user")[0].strip()

    user = User.objects.get(username="newcomer")
    assert viewer_for_token(token).user == user


# set_submission_status


@pytest.mark.django_db(transaction=True)
async def test_set_submission_status_changes_the_status_and_publishes_it(submission):
    listener = await GroupProbe.join(submission.pk)

    stdout, _ = await sync_to_async(run)(
        "set_submission_status", str(submission.pk), "LOADED", "--message", "Reset by operator"
    )
    event = await listener.next()

    stored = await sync_to_async(fresh)(submission)
    assert (stored.status, stored.message, stored.version) == (Status.LOADED, "Reset by operator", 2)
    assert (event["status"], event["message"], event["version"]) == ("LOADED", "Reset by operator", 2)
    assert event["validation_summary"] is None
    assert "Loaded" in stdout
    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_set_submission_status_with_include_validation_publishes_the_summary(submission):
    await sync_to_async(services.records_add)(
        submission=submission, records=[{"kind": RecordKind.ANIMAL, "name": "cow-1"}]
    )
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(run)("set_submission_status", str(submission.pk), "LOADED", "--include-validation")
    event = await listener.next()

    assert event["validation_summary"]["animals"]["total"] == 1


@pytest.mark.django_db(transaction=True)
async def test_set_submission_status_refuses_an_invalid_transition_and_changes_nothing(submission):
    listener = await GroupProbe.join(submission.pk)

    with pytest.raises(CommandError, match="Waiting.*Completed"):
        await sync_to_async(run)("set_submission_status", str(submission.pk), "COMPLETED")

    stored = await sync_to_async(fresh)(submission)
    assert (stored.status, stored.version) == (Status.WAITING, 1)
    await listener.assert_nothing_published()


@pytest.mark.django_db(transaction=True)
async def test_set_submission_status_with_force_overrides_the_transition_rules(submission):
    listener = await GroupProbe.join(submission.pk)

    await sync_to_async(run)("set_submission_status", str(submission.pk), "COMPLETED", "--force")
    event = await listener.next()

    assert (await sync_to_async(fresh)(submission)).status == Status.COMPLETED
    assert (event["status"], event["version"]) == ("COMPLETED", 2)


@pytest.mark.django_db
def test_set_submission_status_of_an_unknown_submission_fails(submission):
    missing = submission.pk + 1000

    with pytest.raises(CommandError, match=str(missing)):
        run("set_submission_status", str(missing), "LOADED")

    assert fresh(submission).version == 1


@pytest.mark.django_db
def test_set_submission_status_refuses_a_status_that_does_not_exist(submission):
    with pytest.raises(CommandError):
        run("set_submission_status", str(submission.pk), "ARCHIVED")

    assert fresh(submission).status == Status.WAITING


# demo


def demo_data() -> dict:
    return {
        "users": list(User.objects.order_by("pk").values_list("username", "password", "is_staff")),
        "submissions": list(
            Submission.objects.order_by("pk").values_list(
                "pk", "owner__username", "title", "description", "status", "message", "version"
            )
        ),
        "records": list(Record.objects.order_by("pk").values_list("submission_id", "kind", "name", "attributes")),
        "results": list(ValidationResult.objects.order_by("pk").values_list("record_id", "outcome")),
        "messages": list(
            ValidationMessage.objects.order_by("pk").values_list("result_id", "message", "offending_column")
        ),
    }


@pytest.mark.django_db
def test_demo_creates_a_few_submissions_of_user_demo_in_different_states():
    run("demo")

    statuses = list(Submission.objects.filter(owner__username="demo").values_list("status", flat=True))
    assert len(statuses) >= 2
    assert len(set(statuses)) == len(statuses)
    assert Record.objects.filter(submission__owner__username="demo").exists()


@pytest.mark.django_db
def test_demo_is_idempotent_running_it_twice_gives_the_same_data():
    run("demo")
    after_first = demo_data()

    run("demo")

    assert demo_data() == after_first


@pytest.mark.django_db
def test_the_demo_user_logs_in_with_password_demo():
    run("demo")

    assert Client().login(username="demo", password="demo") is True


@pytest.mark.django_db
def test_the_demo_flock_has_one_mistake_for_the_worker_to_find_and_the_owner_to_fix():
    run("demo")
    flock = Submission.objects.get(owner__username="demo", title="Sheep flock")
    records = [{"kind": r.kind, "name": r.name, "attributes": r.attributes} for r in flock.records.all()]

    issues = [(r["name"], r["messages"]) for r in validate(records) if r["outcome"] != "PASS"]
    assert issues == [("ewe-007", [{"message": "Not an ISO-8601 date (YYYY-MM-DD)", "offendingColumn": "birth_date"}])]
