"""The axe-core served to the browser tests is the release pinned by tests/e2e/axe/package-lock.json."""

import json
import re

from tests.e2e.accessibility import AXE_SOURCE


def test_the_vendored_axe_core_is_the_locked_release():
    lock = json.loads((AXE_SOURCE.parent / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/axe-core"]["version"]
    package = json.loads((AXE_SOURCE.parent / "package.json").read_text())
    assert package["dependencies"]["axe-core"] == locked
    banner = AXE_SOURCE.read_text(encoding="utf-8")[:200]
    assert re.match(r"/\*! axe v(\S+)", banner).group(1) == locked
    assert "Mozilla Public License" in (AXE_SOURCE.parent / "LICENSE").read_text()
