"""A newcomer's first walk through the product, in Chromium, with the real server and the real worker process:
sign in, validate a demo submission, watch it progress, fix the record it finds wrong, validate again, submit,
and see it completed."""

import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import signed_in_page
from tests.e2e.conftest import PROJECT_DIR
from worker.validation import NOT_A_DATE

WORK_TIMEOUT_MS = 60_000
# What the page showed the progress bar say, as it said it (the worker can be quicker than a poll).
RECORD_PROGRESS = """
() => {
  window.progressSeen = [];
  new MutationObserver(() => {
    const label = document.querySelector('#progress-label').textContent;
    if (!document.querySelector('#progress').hidden && window.progressSeen.at(-1) !== label) {
      window.progressSeen.push(label);
    }
  }).observe(document.querySelector('#progress'), {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}
"""


@pytest.fixture
def worker(demo):
    """`manage.py run_worker` beside the server, as `make run` starts it (small batches, so progress shows)."""
    server = demo.start_server()
    token = demo.manage("create_api_token", "worker", "--create-user", "--service").strip()
    with (demo.folder / "worker.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker", "--url", server.http_url, "--batch-size", "4"],
            cwd=PROJECT_DIR,
            env={**demo.env, "WORKER_TOKEN": token},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    yield server
    process.terminate()
    process.wait(timeout=10)


def expect_status(page, display: str):
    expect(page.locator("#status")).to_have_text(display, timeout=WORK_TIMEOUT_MS)
    expect(page.locator("#connection-text")).to_have_text("Live")


def test_a_newcomer_validates_fixes_validates_again_submits_and_sees_it_completed(worker, chromium):
    problems = []
    page = signed_in_page(chromium, worker, problems)
    page.click("text=Sheep flock")
    page.wait_for_selector(".connection-live")
    assert page.inner_text("#status") == "Loaded"
    assert page.inner_text("#next-step-text") == "Validate them to find any records that need fixing."
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 0 with issues, 12 waiting to be validated")
    page.evaluate(RECORD_PROGRESS)

    page.click("#action-validate")
    expect(page.locator("#action-result")).to_contain_text("Validation requested.")
    expect_status(page, "Need Revision")
    seen = page.evaluate("window.progressSeen")
    assert seen[-1] == "Validating: 18 of 18", seen
    assert len(seen) > 2, f"progress shown as it went: {seen}"
    assert page.get_attribute("#progress-bar", "max") == "18"
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 1 with issues, 0 waiting to be validated")
    expect(page.locator("#samples-summary")).to_have_text("6 samples, 0 with issues, 0 waiting to be validated")
    assert page.inner_text("#messages tbody") == f"animal\t{NOT_A_DATE}\tbirth_date\t1: ewe-007"
    expect(page.locator("#announcer")).to_contain_text("Status changed to Need Revision")
    assert page.inner_text("#next-step-text").startswith("Use Edit to fix the records")
    assert page.get_attribute("#action-submit", "aria-disabled") == "true"

    page.click("#action-edit")
    record = page.locator("#editor form.record")
    expect(record).to_have_count(1)
    assert record.locator("legend").inner_text() == "Animal ewe-007"
    assert record.locator(".record-messages").inner_text() == f"{NOT_A_DATE} (column birth_date)"
    birth_date = record.get_by_label("birth_date")
    assert birth_date.input_value() == "2024-02-30"
    birth_date.fill("2024-02-28")
    record.locator(".save-record").click()
    expect(record.locator(".record-result")).to_contain_text("Saved")
    expect(page.locator("#animals-summary")).to_have_text("12 animals, 0 with issues, 1 waiting to be validated")

    page.click("#action-validate")
    expect_status(page, "Ready")
    expect(page.locator("#no-messages")).to_be_visible()
    assert page.inner_text("#next-step-text") == "Submit it to the archive."

    page.click("#action-submit")
    expect(page.locator("#action-result")).to_contain_text("Submission requested.")
    expect_status(page, "Completed")
    assert page.inner_text("#meaning") == "The archive accepted the submission."
    expect(page.locator("#announcer")).to_contain_text("Status changed to Completed")
    expect(page.locator("#progress")).to_be_hidden()
    for action in ("validate", "submit"):
        assert page.get_attribute(f"#action-{action}", "aria-disabled") == "true"
    assert problems == []

    page.click("text=← Your submissions")
    expect(page.locator("tr", has_text="Sheep flock").locator(".badge")).to_have_text("Completed")
