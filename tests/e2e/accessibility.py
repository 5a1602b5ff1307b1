"""Accessibility checks for the browser tests, with axe-core (pinned in tests/e2e/axe/).

violations = axe_violations(page)
assert violations == [], describe_violations(violations)
"""

from functools import cache
from pathlib import Path

AXE_SOURCE = Path(__file__).resolve().parent / "axe" / "axe.min.js"

# Evaluated through the browser's debugging protocol rather than added as a
# <script>: the pages' Content-Security-Policy allows no inline script, and
# the protocol's evaluation is not subject to it.
RUN_AXE = """
async ([context, options]) => {
  const results = await window.axe.run(context ?? document, options ?? {});
  return results.violations.map(({id, impact, help, helpUrl, nodes}) => ({
    id, impact, help, helpUrl,
    nodes: nodes.map(({target, html, failureSummary}) => ({target, html, failureSummary})),
  }));
}
"""


@cache
def _axe_source() -> str:
    return AXE_SOURCE.read_text(encoding="utf-8")


def axe_violations(page, *, context=None, options: dict | None = None) -> list[dict]:
    """Run axe-core on the page as it is now and return its violations.

    `context` is what axe.run takes (a CSS selector, or `{"include": [...], "exclude": [...]}`);
    the whole document by default. `options` are axe.run's options (say `{"runOnly": ["wcag2aa"]}`);
    by default every rule axe-core enables. Each violation is `{id, impact, help, helpUrl, nodes}`,
    each node `{target, html, failureSummary}`.
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source() + "\n;undefined")
    return page.evaluate(RUN_AXE, [context, options])


def describe_violations(violations: list[dict]) -> str:
    """The violations as lines a person can act on, for an assertion message."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['helpUrl']}")
        lines.extend(f"    {node['target']}: {node['html'][:200]}" for node in violation["nodes"])
    return "\n".join(lines)


def assert_accessible(page, where: str, **axe_options) -> None:
    """Fail, naming `where` and every violation, unless axe-core finds none (see axe_violations)."""
    violations = axe_violations(page, **axe_options)
    assert violations == [], f"{where}:\n{describe_violations(violations)}"
