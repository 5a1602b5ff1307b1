"""The image holds the product and nothing of the benchmark, checked without a Docker engine."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
# What a web process loads: the ASGI application, the URL configuration and the management commands.
LOAD_THE_PRODUCT = """
import json, sys
from pathlib import Path
import api.asgi, api.urls
from django.core.management import get_commands, load_command_class
for name, app in get_commands().items():
    if not app.startswith("django"):
        load_command_class(app, name)
project = Path.cwd().resolve()
installed = Path(sys.prefix).resolve()  # a virtualenv may live inside the project (make's .venv)
print(json.dumps(sorted({
    Path(module.__file__).resolve().relative_to(project).parts[0]
    for module in list(sys.modules.values())
    if getattr(module, "__file__", None)
    and Path(module.__file__).resolve().is_relative_to(project)
    and not Path(module.__file__).resolve().is_relative_to(installed)
})))
"""


def copied_into_the_image() -> set[str]:
    """The first path component of every source the Dockerfile COPYs from the build context."""
    sources = set()
    for line in (PROJECT_DIR / "docker" / "Dockerfile").read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"]:
            sources |= {Path(word).parts[0] for word in words[1:-1] if not word.startswith("--")}
    return sources


def test_the_image_holds_every_package_the_product_loads():
    result = subprocess.run(
        [sys.executable, "-c", LOAD_THE_PRODUCT],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert {"api", "submissions"} <= loaded
    assert loaded - copied_into_the_image() == set()


def test_the_image_holds_nothing_of_the_benchmark():
    # bench/ serves baselines that ask for no credentials (bench/asgi.py).
    assert "bench" not in copied_into_the_image()
