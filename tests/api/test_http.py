"""The GraphQL API over HTTP: who may do what, errors, and the GraphQL-over-HTTP media type."""

import json

import pytest
from django.test import Client

from submissions import services
from submissions.models import Record, Status, Submission
from tests.conftest import error_codes

SUBMISSION = """
query ($id: ID!) {
  submission(id: $id) {
    id title owner status statusDisplay message version
    actions { canEdit canValidate canSubmit canDelete }
    validationSummary { submissionId animals { total validated unknown pass warning error issues } }
  }
}
"""
UPDATE_STATUS = """
mutation ($input: UpdateSubmissionStatusInput!) {
  updateSubmissionStatus(input: $input) {
    submissionId version status statusDisplay message
    actions { canEdit canValidate canSubmit canDelete }
    validationSummary { animals { total } }
  }
}
"""
ADD_RECORDS = "mutation ($input: AddRecordsInput!) { addRecords(input: $input) }"
RECORD_RESULTS = """
mutation ($input: RecordValidationResultsInput!) {
  recordValidationResults(input: $input) {
    animals { total validated unknown pass error issues }
    messages(kind: ANIMAL) { kind message offendingColumn count recordNames }
  }
}
"""


def test_viewer_is_null_for_anonymous_callers(anonymous):
    assert anonymous.execute("{ viewer { username } }") == {"data": {"viewer": None}}


def test_viewer_names_the_token_holder_and_whether_it_is_a_service(owner, service):
    assert owner.execute("{ viewer { username isService } }")["data"]["viewer"] == {
        "username": "olivia",
        "isService": False,
    }
    assert service.execute("{ viewer { isService } }")["data"]["viewer"] == {"isService": True}


@pytest.mark.parametrize(
    "query",
    [
        '{ submission(id: "1") { id } }',
        "{ submissions { id } }",
        '{ validationSummary(submissionId: "1") { submissionId } }',
        'mutation { createSubmission(input: {title: "x"}) { id } }',
    ],
)
def test_anonymous_callers_are_unauthenticated(anonymous, query):
    assert error_codes(anonymous.execute(query)) == ["UNAUTHENTICATED"]


def test_an_unknown_token_is_unauthenticated_and_says_so(db):
    result = (
        Client()
        .post(
            "/graphql/",
            {"query": "{ submissions { id } }"},
            content_type="application/json",
            headers={"Authorization": "Bearer not-a-token"},
        )
        .json()
    )
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert "Invalid API token" in result["errors"][0]["message"]


def test_an_owner_creates_and_reads_a_submission(owner):
    created = owner.execute(
        'mutation { createSubmission(input: {title: "Herd", description: "Spring"}) { id status version } }'
    )["data"]["createSubmission"]
    assert created["status"] == "WAITING" and created["version"] == 1

    submission = owner.execute(SUBMISSION, {"id": created["id"]})["data"]["submission"]
    assert submission["title"] == "Herd"
    assert submission["owner"] == "olivia"
    assert submission["statusDisplay"] == "Waiting"
    assert submission["message"] is None
    assert submission["actions"] == {"canEdit": False, "canValidate": False, "canSubmit": False, "canDelete": False}
    assert submission["validationSummary"]["animals"]["total"] == 0


def test_a_blank_title_is_bad_user_input_and_creates_nothing(owner):
    result = owner.execute('mutation { createSubmission(input: {title: "  "}) { id } }')
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert not Submission.objects.exists()


def test_another_owners_submission_reads_as_not_found(other_owner, submission):
    result = other_owner.execute(SUBMISSION, {"id": submission.pk})
    assert error_codes(result) == ["NOT_FOUND"]
    assert other_owner.execute("{ submissions { id } }")["data"]["submissions"] == []


def test_a_malformed_id_reads_as_not_found(owner):
    assert error_codes(owner.execute(SUBMISSION, {"id": "abc"})) == ["NOT_FOUND"]


def test_services_see_every_submission(service, submission):
    assert service.execute("{ submissions { id owner } }")["data"]["submissions"] == [
        {"id": str(submission.pk), "owner": "olivia"}
    ]


def test_submissions_filter_by_status_and_page(owner):
    for title in ("a", "b", "c"):
        services.submission_create(owner=owner.user, title=title)
    loaded = services.submission_create(owner=owner.user, title="d")
    services.set_status(loaded, Status.LOADED)

    assert owner.execute("{ submissions(status: LOADED) { title } }")["data"]["submissions"] == [{"title": "d"}]
    page = owner.execute("{ submissions(first: 2, offset: 1) { title } }")["data"]["submissions"]
    assert [s["title"] for s in page] == ["c", "b"]
    assert error_codes(owner.execute("{ submissions(first: 100000) { id } }")) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    "mutation, variables",
    [
        (UPDATE_STATUS, {"input": {"id": "1", "status": "LOADED"}}),
        (ADD_RECORDS, {"input": {"submissionId": "1", "records": []}}),
        (RECORD_RESULTS, {"input": {"submissionId": "1", "results": []}}),
        (
            "mutation ($input: ReportProgressInput!) { reportProgress(input: $input) { version } }",
            {"input": {"submissionId": "1", "phase": "import", "done": 1, "total": 2}},
        ),
    ],
)
def test_owners_calling_service_mutations_are_forbidden(owner, submission, mutation, variables):
    variables["input"]["submissionId" if "submissionId" in variables["input"] else "id"] = str(submission.pk)
    assert error_codes(owner.execute(mutation, variables)) == ["FORBIDDEN"]
    submission.refresh_from_db()
    assert (submission.status, submission.version) == (Status.WAITING, 1)


def test_a_service_changes_the_status_and_gets_the_event(service, submission):
    result = service.execute(
        UPDATE_STATUS,
        {"input": {"id": str(submission.pk), "status": "LOADED", "message": "Imported", "includeValidation": True}},
    )
    assert result["data"]["updateSubmissionStatus"] == {
        "submissionId": str(submission.pk),
        "version": 2,
        "status": "LOADED",
        "statusDisplay": "Loaded",
        "message": "Imported",
        "actions": {"canEdit": False, "canValidate": True, "canSubmit": False, "canDelete": True},
        "validationSummary": {"animals": {"total": 0}},
    }


def test_a_forbidden_transition_is_invalid_transition_and_changes_nothing(service, submission):
    result = service.execute(UPDATE_STATUS, {"input": {"id": str(submission.pk), "status": "COMPLETED"}})
    assert error_codes(result) == ["INVALID_TRANSITION"]
    assert "Waiting to Completed" in result["errors"][0]["message"]
    submission.refresh_from_db()
    assert (submission.status, submission.version) == (Status.WAITING, 1)


def test_force_lets_a_service_override_the_transition_rules(service, submission):
    result = service.execute(UPDATE_STATUS, {"input": {"id": str(submission.pk), "status": "COMPLETED", "force": True}})
    assert result["data"]["updateSubmissionStatus"]["status"] == "COMPLETED"


def test_a_batch_with_one_bad_record_adds_none(service, submission):
    records = [
        {"kind": "ANIMAL", "name": "cow-1", "attributes": {"breed": "Jersey"}},
        {"kind": "ANIMAL", "name": "cow-1"},
    ]
    result = service.execute(ADD_RECORDS, {"input": {"submissionId": str(submission.pk), "records": records}})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert not Record.objects.exists()
    submission.refresh_from_db()
    assert submission.version == 1


def test_an_unknown_enum_value_is_bad_user_input(service, submission):
    records = [{"kind": "PLANT", "name": "fern"}]
    result = service.execute(ADD_RECORDS, {"input": {"submissionId": str(submission.pk), "records": records}})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert not Record.objects.exists()


def test_validation_results_give_the_summary_and_complete_sets_the_status(service, submission):
    services.set_status(submission, Status.LOADED)
    records = [{"kind": "ANIMAL", "name": f"cow-{n}"} for n in range(3)]
    assert service.execute(ADD_RECORDS, {"input": {"submissionId": str(submission.pk), "records": records}}) == {
        "data": {"addRecords": 3}
    }
    results = [
        {"kind": "ANIMAL", "name": "cow-0", "outcome": "PASS"},
        {
            "kind": "ANIMAL",
            "name": "cow-1",
            "outcome": "ERROR",
            "messages": [{"message": "Unknown breed", "offendingColumn": "breed"}],
        },
        {
            "kind": "ANIMAL",
            "name": "cow-2",
            "outcome": "ERROR",
            "messages": [{"message": "Unknown breed", "offendingColumn": "breed"}],
        },
    ]
    summary = service.execute(
        RECORD_RESULTS, {"input": {"submissionId": str(submission.pk), "results": results, "complete": True}}
    )["data"]["recordValidationResults"]
    assert summary["animals"] == {"total": 3, "validated": 3, "unknown": 0, "pass": 1, "error": 2, "issues": 2}
    assert summary["messages"] == [
        {
            "kind": "ANIMAL",
            "message": "Unknown breed",
            "offendingColumn": "breed",
            "count": 2,
            "recordNames": ["cow-1", "cow-2"],
        }
    ]
    submission.refresh_from_db()
    assert submission.status == Status.NEED_REVISION


def test_an_owner_deletes_a_submission_only_when_its_actions_allow(owner, submission):
    delete = "mutation ($id: ID!) { deleteSubmission(id: $id) }"
    assert error_codes(owner.execute(delete, {"id": submission.pk})) == ["FORBIDDEN"]
    services.set_status(submission, Status.LOADED)
    assert owner.execute(delete, {"id": submission.pk}) == {"data": {"deleteSubmission": str(submission.pk)}}
    assert not Submission.objects.exists()


def test_a_service_cannot_delete_an_owners_submission(service, submission):
    services.set_status(submission, Status.LOADED)
    result = service.execute("mutation ($id: ID!) { deleteSubmission(id: $id) }", {"id": submission.pk})
    assert error_codes(result) == ["FORBIDDEN"]
    assert Submission.objects.filter(pk=submission.pk).exists()


def test_another_owner_cannot_delete_a_submission(other_owner, submission):
    services.set_status(submission, Status.LOADED)
    result = other_owner.execute("mutation ($id: ID!) { deleteSubmission(id: $id) }", {"id": submission.pk})
    assert error_codes(result) == ["NOT_FOUND"]
    assert Submission.objects.filter(pk=submission.pk).exists()


def test_no_internal_exception_text_reaches_a_client(service, submission, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("submissions.graphql.queries.validation_summary", broken)
    result = service.execute(
        "query ($id: ID!) { validationSummary(submissionId: $id) { submissionId } }", {"id": submission.pk}
    )
    assert result["errors"] == [
        {
            "message": "Unexpected error.",
            "locations": [{"line": 1, "column": 20}],
            "path": ["validationSummary"],
            "extensions": {"code": "INTERNAL_SERVER_ERROR"},
        }
    ]


@pytest.mark.parametrize(
    "query",
    [
        "{ " + " ".join(f"a{n}: viewer {{ username }}" for n in range(40)) + " }",
        "{ submissions { id ",
    ],
    ids=["too many aliases", "malformed"],
)
def test_abusive_or_malformed_documents_are_bad_user_input(owner, query):
    result = owner.execute(query)
    assert error_codes(result) == ["BAD_USER_INPUT"]


def test_deep_documents_are_refused(owner):
    deep = "{ submissions { validationSummary { messages { kind } } } }"
    assert "errors" not in owner.execute(deep)
    too_deep = owner.execute("query {" + " submissions {" * 12 + " id" + " }" * 13)
    assert set(error_codes(too_deep)) == {"BAD_USER_INPUT"}
    assert any("exceeds maximum operation depth" in error["message"] for error in too_deep["errors"])


class TestGraphQLOverHTTP:
    def test_graphql_response_media_type_is_used_when_the_client_accepts_it(self, owner):
        response = Client().post(
            "/graphql/",
            {"query": "{ viewer { username } }"},
            content_type="application/json",
            headers={**owner.headers, "Accept": "application/graphql-response+json"},
        )
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/graphql-response+json")

    def test_a_request_that_fails_validation_is_400_with_that_media_type(self, owner):
        response = Client().post(
            "/graphql/",
            {"query": "{ nope }"},
            content_type="application/json",
            headers={**owner.headers, "Accept": "application/graphql-response+json"},
        )
        assert response.status_code == 400
        assert "data" not in response.json()

    def test_plain_json_clients_get_200_for_a_validation_failure(self, owner):
        response = Client().post(
            "/graphql/", {"query": "{ nope }"}, content_type="application/json", headers=owner.headers
        )
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")

    def test_queries_work_over_get_and_without_the_trailing_slash(self, owner):
        response = Client().get("/graphql", {"query": "{ viewer { username } }"}, headers=owner.headers)
        assert response.status_code == 200
        assert response.json() == {"data": {"viewer": {"username": "olivia"}}}

    def test_mutations_are_refused_over_get(self, owner):
        response = Client().get(
            "/graphql/", {"query": 'mutation { createSubmission(input: {title: "x"}) { id } }'}, headers=owner.headers
        )
        assert response.status_code == 405
        assert not Submission.objects.exists()

    def test_a_browser_asking_for_html_gets_graphiql(self, db):
        response = Client().get("/graphql/", headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert b"graphiql" in response.content.lower()


class TestSessions:
    def test_a_signed_in_browser_is_the_user(self, owner):
        client = Client(enforce_csrf_checks=True)
        client.force_login(owner.user)
        client.get("/graphql/", headers={"Accept": "text/html"})  # sets the CSRF cookie
        response = client.post(
            "/graphql/",
            json.dumps({"query": "{ viewer { username } }"}),
            content_type="application/json",
            headers={"X-CSRFToken": client.cookies["csrftoken"].value},
        )
        assert response.json() == {"data": {"viewer": {"username": "olivia"}}}

    def test_a_session_post_without_the_csrf_token_is_refused(self, owner):
        client = Client(enforce_csrf_checks=True)
        client.force_login(owner.user)
        response = client.post(
            "/graphql/",
            json.dumps({"query": 'mutation { createSubmission(input: {title: "x"}) { id } }'}),
            content_type="application/json",
        )
        assert response.status_code == 403
        assert not Submission.objects.exists()

    @pytest.mark.parametrize("accept", ["text/event-stream", "multipart/mixed;subscriptionSpec=1.0"])
    def test_a_session_subscription_stream_without_the_csrf_token_is_refused_with_a_graphql_error(
        self, owner, submission, accept
    ):
        client = Client(enforce_csrf_checks=True)
        client.force_login(owner.user)
        subscription = "subscription ($id: ID!) { submissionStatus(submissionId: $id) { version } }"
        response = client.post(
            "/graphql/",
            json.dumps({"query": subscription, "variables": {"id": str(submission.pk)}}),
            content_type="application/json",
            headers={"Accept": accept},
        )
        assert response.status_code == 403
        assert response["Content-Type"].startswith("application/json")
        assert error_codes(response.json()) == ["FORBIDDEN"]
        assert "X-CSRFToken" in response.json()["errors"][0]["message"]

    def test_the_demo_user_signs_in_on_the_login_page(self, db):
        from django.core.management import call_command

        call_command("demo", stdout=open("/dev/null", "w"))
        response = Client().post("/accounts/login/", {"username": "demo", "password": "demo"})
        assert response.status_code == 302 and response["Location"] == "/"


def test_a_deleted_token_is_refused_once_the_token_cache_expires(owner, monkeypatch):
    from api import auth
    from api.models import ApiToken

    assert owner.execute("{ viewer { username } }")["data"]["viewer"] == {"username": "olivia"}
    ApiToken.objects.filter(user=owner.user).delete()
    monkeypatch.setattr(auth, "TOKEN_CACHE_SECONDS", 0.0)
    auth._recent_viewers.clear()
    assert error_codes(owner.execute("{ submissions { id } }")) == ["UNAUTHENTICATED"]
