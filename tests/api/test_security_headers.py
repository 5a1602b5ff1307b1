"""Every HTML page carries a strict Content-Security-Policy: GraphiQL, sign-in, the admin, the app's pages."""

import pytest
from django.http import HttpResponse
from django.test import AsyncClient, Client

from api.security_headers import add_content_security_policy
from submissions import services

pytestmark = pytest.mark.django_db(transaction=True)

STRICT_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
}


def assert_strict_policy(response):
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/html")
    directives = {directive.strip() for directive in response["Content-Security-Policy"].split(";")}
    assert STRICT_DIRECTIVES <= directives
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


@pytest.fixture
def staff(db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(username="admin", password="secret", is_staff=True, is_superuser=True)


async def test_graphiql_has_the_policy():
    assert_strict_policy(await AsyncClient().get("/graphql/", headers={"Accept": "text/html"}))


def test_the_sign_in_page_has_the_policy():
    assert_strict_policy(Client().get("/accounts/login/"))


def test_the_admin_has_the_policy(staff):
    assert_strict_policy(Client().get("/admin/login/"))
    client = Client()
    client.force_login(staff)
    assert_strict_policy(client.get("/admin/"))
    assert_strict_policy(client.get("/admin/auth/user/"))


def test_the_apps_pages_have_the_policy(owner):
    submission = services.submission_create(owner=owner.user, title="Herd", description="")
    client = Client()
    client.force_login(owner.user)
    assert_strict_policy(client.get("/"))
    assert_strict_policy(client.get(f"/submissions/{submission.pk}/"))


def test_error_pages_have_the_policy_but_djangos_debug_pages_do_not(owner, settings):
    client = Client()
    client.force_login(owner.user)
    assert "Content-Security-Policy" in client.get("/submissions/999/")
    settings.DEBUG = True  # the technical 404 page uses inline scripts and styles
    assert "Content-Security-Policy" not in client.get("/submissions/999/")


def test_a_response_that_sets_its_own_policy_keeps_it():
    response = HttpResponse("<p>hi</p>")
    response["Content-Security-Policy"] = "default-src 'none'"
    assert add_content_security_policy(response)["Content-Security-Policy"] == "default-src 'none'"


def test_responses_other_than_html_are_left_alone():
    response = add_content_security_policy(HttpResponse("{}", content_type="application/json"))
    assert "Content-Security-Policy" not in response


def test_the_policy_can_be_changed_or_turned_off_in_settings(settings):
    settings.CONTENT_SECURITY_POLICY = "default-src 'self'"
    assert Client().get("/accounts/login/")["Content-Security-Policy"] == "default-src 'self'"
    settings.CONTENT_SECURITY_POLICY = ""
    assert "Content-Security-Policy" not in Client().get("/accounts/login/")
