"""GraphiQL as people meet it, in Chromium: signed out or in, on a phone, by keyboard alone, with axe-core."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from tests.e2e.accessibility import assert_accessible
from tests.e2e.browser import DESKTOP, PHONE, new_page, signed_in_page

SIGN_IN_URL = "/accounts/login/?next=/graphql/"
# What has focus, in words: an editor by its label, anything else by its name.
FOCUSED = """() => {
  const element = document.activeElement;
  const editor = element.closest(".CodeMirror");
  const where = element.closest(".result-window") ? "results" : editor ? "editor" : "control";
  return {where, name: element.getAttribute("aria-label") || element.textContent.trim().slice(0, 40)};
}"""
KEY_PRESSES = 60


def open_graphiql(page, server):
    page.goto(f"http://127.0.0.1:{server.port}/graphql/")
    page.wait_for_selector(".graphiql-query-editor .CodeMirror")
    return page


def run(page):
    page.click(".graphiql-execute-button")


def test_signed_out_it_says_how_to_sign_in_or_pass_a_token(demo, chromium):
    server = demo.start_server()
    page = open_graphiql(new_page(chromium, []), server)

    guidance = page.locator("#sign-in-needed")
    expect(guidance).to_be_visible()
    expect(guidance).to_contain_text('{"Authorization": "Bearer <token>"} in the Headers tab')
    expect(guidance).to_contain_text("manage.py create_api_token USERNAME")
    assert guidance.get_by_role("link", name="sign in").get_attribute("href") == SIGN_IN_URL


def test_signed_out_the_subscription_says_at_once_why_it_was_refused(demo, chromium):
    server = demo.start_server(server="uvicorn")
    page = open_graphiql(new_page(chromium, []), server)
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket.url))

    run(page)
    expect(page.locator(".result-window")).to_contain_text("socket closed with 4403")
    expect(page.locator(".result-window")).to_contain_text(f"Sign in at {SIGN_IN_URL}")
    expect(page.locator("#graphiql-status")).to_contain_text("4403")  # announced: the role is status
    assert len(sockets) == 1, "a refusal is reported, not retried"


def test_a_token_in_the_headers_tab_lets_the_subscription_run(demo, chromium):
    server = demo.start_server()
    token = demo.manage("create_api_token", "demo").strip()
    page = open_graphiql(new_page(chromium, []), server)

    page.get_by_role("button", name="Headers").click()
    page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror").click()
    page.keyboard.insert_text(json.dumps({"Authorization": f"Bearer {token}"}))
    run(page)
    expect(page.locator(".result-window")).to_contain_text('"statusDisplay": "Loaded"')
    demo.manage("set_submission_status", "2", "READY", "--message", "Seen with a token")
    expect(page.locator(".result-window")).to_contain_text("Seen with a token")


def test_by_keyboard_alone_focus_leaves_the_editor_to_run_and_reaches_the_results(demo, chromium):
    server = demo.start_server()
    page = open_graphiql(signed_in_page(chromium, server, []), server)
    page.locator("body").focus()
    visited = []
    for _ in range(KEY_PRESSES):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        visited.append(focused)
        if focused["where"] == "editor":
            page.keyboard.press("Tab")
            assert page.evaluate(FOCUSED) == focused, "in an editor, Tab indents"
            page.keyboard.press("Escape")  # then Tab moves on, as the page says
        if focused["name"].startswith("Execute query"):
            page.keyboard.press("Enter")
            expect(page.locator(".result-window")).to_contain_text('"statusDisplay": "Loaded"')
        if focused["where"] == "results":
            break
    names = [focused["name"] for focused in visited]
    assert visited[-1] == {"where": "results", "name": "Response"}, names
    for name in ("Your submissions", "Query editor", "Variables", "Headers", "Variables editor"):
        assert name in names, names
    assert names.index("Query editor") < names.index("Execute query (Ctrl-Enter)") < names.index("Response")
    expect(page.locator("#keyboard-hint")).to_contain_text("press Esc, then Tab or Shift+Tab")


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed out", "signed in"])
def test_axe_core_finds_nothing_to_fix_on_a_desktop_or_a_phone(demo, chromium, signed_in):
    server = demo.start_server()
    for viewport in (DESKTOP, PHONE):
        where = f"{viewport['width']} px, {'signed in' if signed_in else 'signed out'}"
        page = signed_in_page(chromium, server, [], viewport) if signed_in else new_page(chromium, [], viewport)
        open_graphiql(page, server)
        assert_accessible(page, where)
        run(page)
        expect(page.locator(".result-window")).to_contain_text('"statusDisplay"' if signed_in else "4403")
        assert_accessible(page, f"{where}, with results")
        page.close()


def test_the_dark_theme_keeps_its_contrast(demo, chromium):
    server = demo.start_server()
    page = signed_in_page(chromium, server, [])
    page.emulate_media(color_scheme="dark")
    open_graphiql(page, server)
    run(page)
    expect(page.locator(".result-window")).to_contain_text('"progress": null')
    assert_accessible(page, "dark, with results")


def test_it_fits_a_390_px_phone_and_links_back_to_the_app(demo, chromium):
    server = demo.start_server()
    page = open_graphiql(signed_in_page(chromium, server, [], PHONE), server)
    assert page.get_attribute("meta[name=viewport]", "content") == "width=device-width, initial-scale=1"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    run(page)
    expect(page.locator(".result-window")).to_contain_text('"statusDisplay"')
    for control in (".graphiql-execute-button", ".result-window", ".graphiql-query-editor"):
        box = page.locator(control).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], control
        assert box["y"] >= 0 and box["y"] < PHONE["height"], control

    page.get_by_role("link", name="Your submissions").click()
    page.wait_for_url(f"http://127.0.0.1:{server.port}/")


def test_the_navigation_links_to_graphiql_only_when_it_is_served(demo, chromium):
    served = demo.start_server()
    demo.env["GRAPHIQL"] = "false"
    not_served = demo.start_server()

    page = signed_in_page(chromium, served, [])
    expect(page.get_by_role("navigation").get_by_role("link", name="GraphiQL")).to_be_visible()
    page = signed_in_page(chromium, not_served, [])
    expect(page.get_by_role("navigation")).to_contain_text("Sign out")
    expect(page.get_by_role("link", name="GraphiQL")).to_have_count(0)
    request = urllib.request.Request(not_served.http_url, headers={"Accept": "text/html"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 404
