"""The image holds the product and nothing of the benchmark, checked without a Docker engine."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from docker.utils.build import exclude_paths

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


def build_context(root: Path = PROJECT_DIR) -> set[str]:
    """The files Docker sends as the build context of `root` (less .dockerignore's), as docker-py computes them."""
    patterns = [
        line.strip()
        for line in (PROJECT_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {
        path for path in exclude_paths(str(root), patterns, dockerfile="docker/Dockerfile") if (root / path).is_file()
    }


def test_the_build_context_holds_what_the_image_copies_and_the_dockerfile():
    context = build_context()
    assert {Path(path).parts[0] for path in context} == copied_into_the_image() | {"docker", ".dockerignore"}
    assert {path for path in context if Path(path).parts[0] == "docker"} == {"docker/Dockerfile"}


def test_the_build_context_leaves_out_what_a_working_copy_gathers(tmp_path):
    kept = [
        "requirements.txt",
        "manage.py",
        "schema.graphql",
        "api/asgi.py",
        "live/flow.py",
        "submissions/models.py",
        "worker/worker.py",
    ]
    left_out = [
        ".venv/bin/python",
        ".git/HEAD",
        "bench/node_peer/node_modules/ws/index.js",
        "tests/e2e/axe/node_modules/axe-core/axe.js",
        "api/__pycache__/asgi.cpython-311.pyc",
        "db.sqlite3",
        "db.sqlite3-wal",
        ".pytest_cache/README.md",
        ".ruff_cache/CACHEDIR.TAG",
        "staticfiles/admin/css/base.css",
        "bench/run.py",
    ]
    for path in [*kept, *left_out, "docker/Dockerfile"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    # The embedded Redis's socket: a file that cannot go into the context's tarball at all.
    (tmp_path / "var").mkdir()
    with socket.socket(socket.AF_UNIX) as redis_socket:
        redis_socket.bind(str(tmp_path / "var" / "redis.sock"))
        assert build_context(tmp_path) == {*kept, "docker/Dockerfile"}
