"""The sign-in, list and details pages as a submitter meets them: in Chromium, with axe-core, by keyboard alone."""

import pytest
from playwright.sync_api import expect

from tests.e2e.accessibility import assert_accessible
from tests.e2e.browser import DESKTOP, PHONE, new_page, signed_in_page

NARROWEST = {"width": 320, "height": 640}
CREATE = "mutation ($title: String!) { createSubmission(input: {title: $title}) { id } }"
DELETE = "mutation ($id: ID!) { deleteSubmission(id: $id) }"
# The demo's submissions, as `manage.py demo` creates them.
WAITING_ID, LOADED_ID, NEED_REVISION_ID = "1", "2", "3"


def assert_fits(page, where: str):
    """Nothing wider than the screen: no sideways scrolling."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{where} is {overflow} px wider than the screen"


def details(page, server, submission_id: str):
    page.goto(f"http://127.0.0.1:{server.port}/submissions/{submission_id}/")
    page.wait_for_selector(".connection-live")


def owner_token(project) -> str:
    return project.manage("create_api_token", "demo").strip()


def hold_requests(page, operation: str) -> list:
    """Requests naming `operation` wait (in flight) until the test lets each go on; the rest pass.

    Holds compose: a request that one hold lets pass goes on to the holds set up before it.
    """
    held = []

    def route(route):
        if operation in (route.request.post_data or ""):
            held.append(route)
        else:
            route.fallback()

    page.route("**/graphql/", route)
    return held


def click_and_hold(page, action: str, held: list) -> None:
    """Click an action whose request `held` holds: in flight, it is unavailable and says so; clicks send no more."""
    page.click(f"#action-{action}")
    expect(page.locator(f"#reason-{action}")).to_have_text("Sending the request…")
    assert page.get_attribute(f"#action-{action}", "aria-disabled") == "true"
    page.click(f"#action-{action}", force=True)
    assert len(held) == 1


def tab_until(page, selector: str, limit: int = 40, key: str = "Tab"):
    """Press Tab (or `key`, say Shift+Tab) until `selector` has the focus (a keyboard user's way there)."""
    target = page.locator(selector)
    for _ in range(limit):
        page.keyboard.press(key)
        if target.evaluate("element => element === document.activeElement"):
            return
    raise AssertionError(f"{selector} never got the focus in {limit} presses of {key}")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_the_sign_in_list_and_details_pages_have_no_accessibility_violations(demo, chromium, viewport):
    server = demo.start_server()
    problems = []
    page = new_page(chromium, problems, viewport)
    page.goto(f"http://127.0.0.1:{server.port}/accounts/login/")
    assert page.evaluate("getComputedStyle(document.querySelector('#id_username')).fontSize") == "16px"
    assert_accessible(page, "sign-in")
    page.fill("#id_username", "demo")
    page.fill("#id_password", "not the password")
    page.click("button[type=submit]")
    page.wait_for_selector("[role=alert]")
    assert_accessible(page, "sign-in, refused")

    page = signed_in_page(chromium, server, problems, viewport)
    page.wait_for_selector(".connection-live")
    assert page.get_attribute("#connection .dot", "aria-hidden") == "true", "the dot before Live is not read out"
    assert_accessible(page, "list")
    for submission_id in (WAITING_ID, LOADED_ID, NEED_REVISION_ID):
        details(page, server, submission_id)
        assert_accessible(page, f"details of {submission_id}")
        assert_fits(page, f"details of {submission_id}")
    page.click("#action-delete")
    assert_accessible(page, "details, confirming a deletion")
    page.click("#delete-yes")
    expect(page.locator("#deleted-heading")).to_be_focused()
    assert_accessible(page, "details, deleted")
    assert problems == []


def test_at_320_px_the_header_tables_and_messages_fit_the_screen(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [], NARROWEST)
    page.wait_for_selector(".connection-live")
    assert_fits(page, "list")
    details(page, server, NEED_REVISION_ID)
    expect(page.locator("#messages")).to_be_visible()
    assert_fits(page, "details")
    assert page.inner_text("#messages tbody td[data-heading=Column]") == "birth_date"


def test_the_sign_in_error_is_tied_to_the_fields(demo, chromium):
    server = demo.start_server()
    page = new_page(chromium, [], PHONE)
    page.goto(f"http://127.0.0.1:{server.port}/accounts/login/")
    assert page.get_attribute("meta[name=viewport]", "content") == "width=device-width, initial-scale=1"
    page.fill("#id_username", "demo")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    error = page.locator("#sign-in-error")
    expect(error).to_contain_text("correct username and password")
    for field in ("#id_username", "#id_password"):
        assert page.get_attribute(field, "aria-invalid") == "true"
        assert page.get_attribute(field, "aria-describedby") == "sign-in-error"
    assert page.input_value("#id_username") == "demo" and page.input_value("#id_password") == ""


def test_the_pages_can_be_used_by_keyboard_alone(demo, chromium):
    server = demo.start_server()
    base = f"http://127.0.0.1:{server.port}"
    page = new_page(chromium, [])
    page.goto(f"{base}/accounts/login/")
    expect(page.locator("#id_username")).to_be_focused()
    page.keyboard.type("demo")
    page.keyboard.press("Tab")
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")

    tab_until(page, "a:text('Sheep flock')")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/submissions/{LOADED_ID}/")
    page.wait_for_selector(".connection-live")
    # Every action is reachable, the unavailable ones too, each read out with its reason.
    for action, described_by in (("#action-edit", "#reason-edit"), ("#action-submit", "#reason-submit")):
        tab_until(page, action)
        assert page.get_attribute(action, "aria-describedby") == described_by[1:]
    assert page.get_attribute("#action-submit", "aria-disabled") == "true"
    assert page.inner_text("#reason-submit") == "Only a Ready submission can be submitted: validate it first."
    page.keyboard.press("Enter")  # an unavailable action does nothing
    expect(page.locator("#action-submit")).to_be_focused()

    tab_until(page, "#action-delete")
    page.keyboard.press("Enter")
    expect(page.locator("#delete-no")).to_be_focused()  # the safe choice first
    page.keyboard.press("Enter")
    expect(page.locator("#delete-confirm")).to_be_hidden()
    expect(page.locator("#action-delete")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Shift+Tab")
    expect(page.locator("#delete-yes")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.locator("#deleted-heading")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#deleted a")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    expect(page.locator("#submissions")).not_to_contain_text("Sheep flock")


def test_a_submission_deleted_elsewhere_says_so_moves_the_focus_and_offers_the_way_back(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)

    server.execute(DELETE, {"id": LOADED_ID}, token=owner_token(demo))
    expect(page.locator("#deleted-heading")).to_be_focused()
    expect(page.locator("#deleted-heading")).to_have_text("This submission was deleted.")
    expect(page.locator("#live-data")).to_be_hidden()
    # The socket closing afterwards is no reason to reconnect: the page stays as it is.
    page.wait_for_function("() => !document.querySelector('#connection').checkVisibility()")
    assert "Reconnecting" not in page.inner_text("#submission")
    page.click("text=Back to your submissions")
    expect(page.locator("#submissions")).not_to_contain_text("Sheep flock")


def test_while_reconnecting_the_data_is_marked_stale_and_the_actions_are_paused(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)
    assert page.get_attribute("#action-validate", "aria-disabled") is None
    expect(page.locator("#stale")).to_be_hidden()

    server.stop()
    expect(page.locator("#stale")).to_be_visible()
    expect(page.locator("#connection-text")).to_have_text("Reconnecting…")
    for action in ("edit", "validate", "submit", "delete"):
        assert page.get_attribute(f"#action-{action}", "aria-disabled") == "true"
        assert page.inner_text(f"#reason-{action}") == "Paused while the page reconnects."

    demo.start_server(port=server.port)
    expect(page.locator("#stale")).to_be_hidden(timeout=30_000)
    assert page.get_attribute("#action-validate", "aria-disabled") is None
    assert page.inner_text("#reason-validate") == "Checks every record against the rules."


def test_each_status_says_what_it_means_what_to_do_next_and_why_an_action_is_unavailable(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, WAITING_ID)
    assert page.inner_text("#status") == "Waiting"
    assert page.inner_text("#meaning").startswith("Work on this submission is in progress")
    assert page.inner_text("#next-step-text").startswith("Nothing to do now")
    for action in ("edit", "validate", "submit", "delete"):
        assert page.get_attribute(f"#action-{action}", "aria-disabled") == "true"
        assert page.inner_text(f"#reason-{action}") == "Wait: work on this submission is in progress."
    assert "version" not in page.inner_text("#live-data").lower()
    # The owner's description says what the submission holds; only the live status says where it stands.
    for submission_id in (WAITING_ID, LOADED_ID, NEED_REVISION_ID):
        page.goto(f"http://127.0.0.1:{server.port}/submissions/{submission_id}/")
        description = page.inner_text(".description").lower()
        assert not any(word in description for word in ("wait", "load", "import", "validat", "ready")), description
    details(page, server, WAITING_ID)
    assert page.inner_text("#updated").endswith(("UTC", "GMT"))  # Chromium runs here in UTC

    demo.manage("set_submission_status", WAITING_ID, "READY", "--message", "All records passed")
    expect(page.locator("#meaning")).to_have_text("Every record passed validation.")
    expect(page.locator("#next-step-text")).to_have_text("Submit it to the archive.")
    assert page.inner_text("#reason-validate") == "Every record has passed validation already."


def test_the_announcement_says_why_and_a_new_message_alone_is_announced(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)

    demo.manage("set_submission_status", LOADED_ID, "ERROR", "--message", "The archive refused the upload")
    expect(page.locator("#announcer")).to_have_text("Status changed to Error: The archive refused the upload")
    demo.manage("set_submission_status", LOADED_ID, "ERROR", "--message", "The archive is down for maintenance")
    expect(page.locator("#announcer")).to_have_text("New message: The archive is down for maintenance")
    assert page.inner_text("#message-text") == "The archive is down for maintenance"


def test_an_action_is_unavailable_while_in_flight_and_a_refusal_shows_the_servers_message(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)
    held = hold_requests(page, "deleteSubmission")

    page.click("#action-delete")
    page.click("#delete-yes")
    page.wait_for_function("() => document.querySelector('#reason-delete').textContent === 'Sending the request…'")
    assert held and page.get_attribute("#action-delete", "aria-disabled") == "true"
    # Meanwhile the submission moved on to where it cannot be deleted: the server refuses.
    demo.manage("set_submission_status", LOADED_ID, "WAITING", "--message", "Validation requested")
    expect(page.locator("#status")).to_have_text("Waiting")
    held[0].continue_()
    expect(page.locator("#action-error")).not_to_be_empty()
    assert "delete" in page.inner_text("#action-error").lower()
    assert page.inner_text("#reason-delete") == "Wait: work on this submission is in progress."
    expect(page.locator("#live-data")).to_be_visible()


def test_the_list_changes_statuses_in_place_and_shows_a_submission_created_elsewhere(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    page.wait_for_selector(".connection-live")
    page.evaluate("window.notReloaded = true")
    row = page.locator(f"tr[data-submission-id='{LOADED_ID}']")
    row.evaluate("row => { row.dataset.marked = 'same row'; }")

    demo.manage("set_submission_status", LOADED_ID, "ERROR", "--message", "Import failed at line 3")
    expect(row.locator(".badge")).to_have_text("Error")
    assert row.get_attribute("data-marked") == "same row"
    assert row.locator(".message").inner_text() == "Import failed at line 3"
    expect(page.locator("#announcer")).to_have_text("Sheep flock: status changed to Error: Import failed at line 3")

    created = server.execute(CREATE, {"title": "Goat census"}, token=owner_token(demo))["data"]["createSubmission"]
    new_row = page.locator(f"tr[data-submission-id='{created['id']}']")
    expect(new_row).to_contain_text("Goat census", timeout=20_000)
    expect(new_row.locator(".badge")).to_have_text("Waiting")
    demo.manage("set_submission_status", created["id"], "LOADED", "--message", "Imported")
    expect(new_row.locator(".badge")).to_have_text("Loaded")
    assert page.evaluate("window.notReloaded") is True
    assert page.locator("tbody tr").first.get_attribute("data-submission-id") == created["id"]


def test_validate_is_unavailable_while_its_request_is_in_flight_and_says_so_when_refused(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)
    held = hold_requests(page, "requestValidation")

    click_and_hold(page, "validate", held)
    # Meanwhile an operator set the submission aside: the server refuses the request, and says why.
    demo.manage("set_submission_status", LOADED_ID, "ERROR", "--message", "Reset by an operator")
    expect(page.locator("#status")).to_have_text("Error")
    held[0].continue_()
    expect(page.locator("#action-error")).not_to_be_empty()
    assert len(held) == 1
    assert page.inner_text("#reason-validate") == "Not after an error: an operator must reset it first."
    assert page.inner_text("#status") == "Error", "a refused request changes nothing"


def test_validate_and_submit_ask_for_the_work_and_the_page_follows_it(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)

    page.click("#action-validate")
    expect(page.locator("#status")).to_have_text("Waiting")
    expect(page.locator("#message-text")).to_have_text("Validation requested")
    expect(page.locator("#action-result")).to_contain_text("Validation requested.")
    assert page.inner_text("#reason-validate") == "Wait: work on this submission is in progress."

    demo.manage("set_submission_status", LOADED_ID, "READY", "--message", "Every record passed")
    expect(page.locator("#action-submit")).not_to_have_attribute("aria-disabled", "true")
    page.click("#action-submit")
    expect(page.locator("#status")).to_have_text("Submitted")
    expect(page.locator("#message-text")).to_have_text("Submission requested")
    expect(page.locator("#announcer")).to_have_text("Status changed to Submitted: Submission requested")


def test_edit_opens_the_records_with_issues_and_saves_a_fixed_attribute(demo, chromium):
    server = demo.start_server()
    problems = []
    page = signed_in_page(chromium, server, problems)
    details(page, server, NEED_REVISION_ID)
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 3 with issues, 2 waiting to be validated")

    page.click("#action-edit")
    expect(page.locator("#editor-heading")).to_be_focused()
    assert page.get_attribute("#action-edit", "aria-expanded") == "true"
    forms = page.locator("#editor form.record")
    expect(forms).to_have_count(3)
    first = forms.first
    assert first.locator("legend").inner_text() == "Animal sow-008"
    message = page.inner_text("#messages tbody td[data-heading=Message]")  # as validation grouped it
    assert first.locator(".record-messages").inner_text() == f"{message} (column birth_date)"
    field = first.get_by_label("birth_date")
    assert field.get_attribute("aria-invalid") == "true"
    assert page.inner_text(f"#{field.get_attribute('aria-describedby')}").startswith(message)
    assert_accessible(page, "details, editing records")

    field.fill("2020-03-01")
    first.locator(".save-record").click()
    expect(first.locator(".record-result")).to_contain_text("Saved")
    assert field.get_attribute("aria-invalid") is None
    # Its result is cleared: one issue fewer, one more record waiting to be validated, live.
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 2 with issues, 3 waiting to be validated")
    records = server.execute(
        '{ submission(id: "3") { records(kind: ANIMAL, first: 100) { name attributes validation { outcome } } } }',
        token=owner_token(demo),
    )["data"]["submission"]["records"]
    sow = next(record for record in records if record["name"] == "sow-008")
    assert sow["attributes"]["birth_date"] == "2020-03-01" and sow["validation"] is None

    page.click("#editor-close")
    expect(page.locator("#action-edit")).to_be_focused()
    assert problems == []


def test_by_keyboard_alone_an_owner_fixes_a_record_and_asks_for_validation(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, NEED_REVISION_ID)
    page.locator("#title").focus()

    tab_until(page, "#action-edit")
    page.keyboard.press("Enter")
    expect(page.locator("#editor-heading")).to_be_focused()
    first = page.locator("#editor-records form.record").first
    page.keyboard.press("Tab")  # the first record's offending attribute comes first
    expect(first.get_by_label("birth_date")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("2020-03-01")
    tab_until(page, "#editor-records form.record:first-child .save-record")
    page.keyboard.press("Enter")
    expect(first.locator(".record-result")).to_contain_text("Saved")
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 2 with issues, 3 waiting to be validated")

    tab_until(page, "#action-validate", key="Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#status")).to_have_text("Waiting")
    expect(page.locator("#action-result")).to_contain_text("Validation requested.")


def test_submit_is_unavailable_while_its_request_is_in_flight(demo, chromium):
    server = demo.start_server()
    demo.manage("set_submission_status", LOADED_ID, "READY", "--message", "Every record passed")
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)
    held = hold_requests(page, "requestSubmission")

    click_and_hold(page, "submit", held)
    held[0].continue_()
    expect(page.locator("#status")).to_have_text("Submitted")
    assert len(held) == 1


def test_edit_and_save_are_unavailable_while_their_requests_are_in_flight(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, NEED_REVISION_ID)
    opening = hold_requests(page, "withIssues")

    click_and_hold(page, "edit", opening)
    opening[0].continue_()
    expect(page.locator("#editor-heading")).to_be_focused()

    saving = hold_requests(page, "updateRecord")
    first = page.locator("#editor-records form.record").first
    save = first.locator(".save-record")
    first.get_by_label("birth_date").fill("2020-03-01")
    save.click()
    expect(first.locator(".record-result")).to_have_text("Saving…")
    assert save.get_attribute("aria-disabled") == "true"
    save.click(force=True)  # a second click sends nothing
    assert len(saving) == 1
    saving[0].continue_()
    expect(first.locator(".record-result")).to_contain_text("Saved")
    assert save.get_attribute("aria-disabled") is None and len(saving) == 1


def test_delete_is_set_apart_in_a_region_of_its_own_styled_as_destructive(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)

    zone = page.get_by_role("region", name="Delete")
    expect(zone.locator("#action-delete")).to_be_visible()
    for action in ("edit", "validate", "submit"):
        expect(zone.locator(f"#action-{action}")).to_have_count(0)
    last_action = page.locator("#action-submit").bounding_box()
    box = zone.bounding_box()
    assert box["y"] - (last_action["y"] + last_action["height"]) >= 32, "Delete sits well below the other actions"
    red = "rgb(164, 22, 26)"
    style = "(element, property) => getComputedStyle(element)[property]"
    assert zone.evaluate(style, "borderTopColor") == red and zone.evaluate(style, "borderTopStyle") == "solid"
    delete_button = page.locator("#action-delete")
    assert delete_button.evaluate(style, "backgroundColor") == red
    assert page.locator("#action-validate").evaluate(style, "backgroundColor") != red


def test_when_the_session_has_ended_the_page_stops_reconnecting_and_offers_to_sign_in_again(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    details(page, server, LOADED_ID)
    expect(page.locator("#signed-out")).to_be_hidden()
    listing = signed_in_page(chromium, server, [])
    listing.wait_for_selector(".connection-live")

    # Signed out elsewhere (or expired): the sessions are gone from the server.
    demo.python("from django.contrib.sessions.models import Session; Session.objects.all().delete()")
    server.stop()
    demo.start_server(port=server.port)

    # Each page says so, the focus on the news (the list's page is in front).
    expect(listing.locator("#signed-out-heading")).to_be_focused(timeout=30_000)
    expect(listing.locator("#connection-text")).to_have_text("Signed out")
    assert listing.get_by_role("link", name="Sign in again").get_attribute("href") == "/accounts/login/?next=/"
    expect(listing.locator("#submissions tbody tr")).to_have_count(3)  # as they were
    expect(page.locator("#signed-out-heading")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "signed-out-heading"  # a page behind has no focus to show
    expect(page.locator("#signed-out-heading")).to_have_text("Your session has ended.")
    expect(page.locator("#connection-text")).to_have_text("Signed out")
    assert page.inner_text("#reason-validate") == "Sign in again to use this."
    assert page.get_attribute("#action-validate", "aria-disabled") == "true"
    assert_accessible(page, "details, signed out")
    link = page.get_by_role("link", name="Sign in again")
    assert link.get_attribute("href") == f"/accounts/login/?next=/submissions/{LOADED_ID}/"
    link.click()
    page.fill("#id_username", "demo")
    page.fill("#id_password", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"http://127.0.0.1:{server.port}/submissions/{LOADED_ID}/")
    page.wait_for_selector(".connection-live")


def test_the_list_follows_live_as_many_submissions_as_a_connection_may_and_marks_the_others(demo, chromium):
    demo.env["WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION"] = "3"
    server = demo.start_server()
    token = owner_token(demo)
    created = [
        server.execute(CREATE, {"title": title}, token=token)["data"]["createSubmission"]["id"]
        for title in ("Goat census", "Pig herd")
    ]
    page = signed_in_page(chromium, server, [])
    page.wait_for_selector(".connection-live")

    rows = page.locator("#submissions tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("tr.not-live")).to_have_count(2)
    assert [row.get_attribute("data-submission-id") for row in page.locator("tr.not-live").all()] == [
        row.get_attribute("data-submission-id") for row in rows.all()[3:]
    ], "the newest are followed"
    expect(page.locator("tr.not-live .not-live-mark").first).to_have_text("Not live")
    expect(page.locator("#not-live-note")).to_contain_text("at most 3 submissions live")

    demo.manage("set_submission_status", created[-1], "LOADED", "--message", "Imported")
    expect(page.locator(f"tr[data-submission-id='{created[-1]}'] .badge")).to_have_text("Loaded")
    expect(page.locator("#connection-text")).to_have_text("Live")
    expect(page.locator("#stale")).to_be_hidden()

    # Deleting a followed one frees its place for the next.
    server.execute(DELETE, {"id": created[-1]}, token=token)
    expect(rows).to_have_count(4)
    expect(page.locator("tr.not-live")).to_have_count(1)
    expect(page.locator("#connection-text")).to_have_text("Live")


def test_a_subscription_the_server_refuses_marks_its_row_not_live_and_leaves_the_list_live(demo, chromium):
    demo.env["WEBSOCKET_MAX_OPERATIONS_PER_CONNECTION"] = "2"
    server = demo.start_server()
    base = f"http://127.0.0.1:{server.port}"
    page = signed_in_page(chromium, server, [])

    # The page believes it may follow more than the server allows (set as the
    # list is parsed, before the page's script reads it).
    page.add_init_script("""
        new MutationObserver((changes, observer) => {
          const list = document.getElementById("submission-list");
          if (list) { list.dataset.liveLimit = "10"; observer.disconnect(); }
        }).observe(document, {childList: true, subtree: true});
    """)
    page.goto(f"{base}/")
    expect(page.locator("tr.not-live")).to_have_count(1)
    expect(page.locator("#not-live-note")).to_be_visible()
    expect(page.locator("#connection-text")).to_have_text("Live")
    expect(page.locator("#stale")).to_be_hidden()
    followed = page.locator("#submissions tbody tr:not(.not-live)").first.get_attribute("data-submission-id")
    demo.manage("set_submission_status", followed, "ERROR", "--message", "Reset by an operator")
    expect(page.locator(f"tr[data-submission-id='{followed}'] .badge")).to_have_text("Error")
    expect(page.locator("#stale")).to_be_hidden()
