"""What a person sees, in headless Chromium: the live submission page and GraphiQL."""

import re
import urllib.request

from playwright.sync_api import expect

from tests.e2e.browser import TIMEOUT_MS, signed_in_page

RECORD_RESULTS = """
mutation ($input: RecordValidationResultsInput!) { recordValidationResults(input: $input) { animals { unknown } } }
"""


def test_the_details_page_follows_status_message_counts_and_actions_live(demo, chromium):
    server = demo.start_server()
    token = demo.manage("create_api_token", "pipeline", "--create-user", "--service").strip()
    problems = []
    page = signed_in_page(chromium, server, problems)
    page.click("text=Pig trial")
    page.wait_for_selector(".connection-live")
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 3 with issues, 2 waiting to be validated")
    assert page.inner_text("#status") == "Need Revision"
    assert (
        page.inner_text("#messages tbody") == "animal\tDate is in the future\tbirth_date\t3: sow-008, sow-009, sow-010"
    )
    assert not page.is_disabled("#action-delete") and page.is_disabled("#action-submit")

    demo.manage("set_submission_status", "3", "LOADED", "--message", "Revalidating <now>", "--force")
    expect(page.locator("#status")).to_have_text("Loaded")
    assert "status-loaded" in page.get_attribute("#status", "class")
    assert page.inner_text("#message-text") == "Revalidating <now>", "shown as text, never as markup"
    assert page.inner_text("#announcer") == "Status changed to Loaded: Revalidating <now>"

    results = [{"kind": "ANIMAL", "name": name, "outcome": "PASS"} for name in ("sow-011", "sow-012")]
    server.execute(RECORD_RESULTS, {"input": {"submissionId": "3", "results": results}}, token=token)
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 3 with issues, 0 waiting to be validated")
    assert problems == []


def test_the_page_says_when_it_is_reconnecting_and_is_right_again_after(demo, chromium):
    server = demo.start_server()
    problems = []
    page = signed_in_page(chromium, server, problems)
    page.goto(f"http://127.0.0.1:{server.port}/submissions/2/")
    page.wait_for_selector(".connection-live")

    server.stop()
    page.wait_for_selector(".connection-reconnecting")
    assert page.inner_text("#connection") == "Reconnecting…"
    demo.manage("set_submission_status", "2", "READY", "--message", "Changed while you were away")
    demo.start_server(port=server.port)

    page.wait_for_selector(".connection-live", timeout=30_000)
    expect(page.locator("#status")).to_have_text("Ready")
    assert page.inner_text("#message-text") == "Changed while you were away"


def test_pages_have_no_inline_script_and_a_strict_content_security_policy(demo, chromium):
    server = demo.start_server()
    problems = []
    page = signed_in_page(chromium, server, problems)
    response = page.goto(f"http://127.0.0.1:{server.port}/submissions/1/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.content())
    page.wait_for_selector(".connection-live")
    assert [problem for problem in problems if "Content Security Policy" in problem] == []
    assert page.get_attribute("#announcer", "aria-live") == "polite"
    for button in page.query_selector_all("[data-action]"):
        assert button.inner_text().strip()


def test_graphiql_shows_subscription_events_as_they_arrive(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    page.goto(f"http://127.0.0.1:{server.port}/graphql/")
    page.click(".graphiql-execute-button")
    expect(page.locator(".result-window")).to_contain_text("submissionStatus")
    demo.manage("set_submission_status", "2", "LOADED", "--message", "Hello from the CLI")
    expect(page.locator(".result-window")).to_contain_text("Hello from the CLI")


def test_another_owners_submission_page_is_not_found(demo, chromium):
    server = demo.start_server()
    token = demo.manage("create_api_token", "someone", "--create-user").strip()
    other = server.execute('mutation { createSubmission(input: {title: "Not yours"}) { id } }', token=token)
    page = signed_in_page(chromium, server, [])
    response = page.goto(f"http://127.0.0.1:{server.port}/submissions/{other['data']['createSubmission']['id']}/")
    assert response.status == 404
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as health:
        assert health.status == 200


# Recorded from the first script on, so a violation before any test code runs is seen too.
RECORD_CSP_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def csp_problems(page, problems: list) -> list:
    return page.evaluate("window.cspViolations") + [p for p in problems if "Content Security Policy" in p]


def set_graphiql_query(page, query: str) -> None:
    page.evaluate(
        "(query) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query)", query
    )


def test_graphiql_runs_queries_and_subscriptions_under_the_content_security_policy(demo, chromium):
    server = demo.start_server()
    problems = []
    page = signed_in_page(chromium, server, problems)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    response = page.goto(f"http://127.0.0.1:{server.port}/graphql/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    page.click(".graphiql-execute-button")  # the example: a subscription, over a WebSocket
    expect(page.locator(".result-window")).to_contain_text("submissionStatus")
    demo.manage("set_submission_status", "2", "LOADED", "--message", "Over a WebSocket the policy allows")
    expect(page.locator(".result-window")).to_contain_text("Over a WebSocket the policy allows")
    page.click(".graphiql-execute-button")  # stops the subscription

    set_graphiql_query(page, "{ viewer { username isService } }")
    page.click(".graphiql-execute-button")
    expect(page.locator(".result-window")).to_contain_text('"username": "demo"')
    assert csp_problems(page, problems) == []


def test_the_sign_in_page_and_the_admin_work_under_the_content_security_policy(demo, chromium):
    demo.python(
        "from django.contrib.auth import get_user_model\n"
        "get_user_model().objects.create_superuser('root', password='root-password')"
    )
    server = demo.start_server()
    problems = []
    page = chromium.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    base = f"http://127.0.0.1:{server.port}"
    assert "content-security-policy" in page.goto(f"{base}/accounts/login/").headers
    assert csp_problems(page, problems) == []

    response = page.goto(f"{base}/admin/login/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    admin_pages = ("/admin/", "/admin/auth/user/", "/admin/auth/user/add/", "/admin/auth/user/1/change/")
    for path in (*admin_pages, "/admin/axes/accessattempt/"):
        response = page.goto(f"{base}{path}")
        assert response.status == 200 and "content-security-policy" in response.headers, path
        assert csp_problems(page, problems) == [], path
