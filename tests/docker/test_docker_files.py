"""The container set-up, checked without a Docker engine: the Compose file against the
Compose specification's JSON schema, and the Dockerfile with hadolint."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The Compose specification's schema, as shipped in docker-compose 1.29.2's wheel
# (compose/config/compose_spec.json).
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")


def compose_file() -> dict:
    return yaml.safe_load((PROJECT_DIR / "docker" / "compose.yaml").read_text())


def test_the_compose_file_follows_the_compose_specification():
    validator = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    assert [error.message for error in validator.iter_errors(compose_file())] == []


def test_the_schema_check_would_catch_a_mistake():
    validator = jsonschema.Draft201909Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    broken = compose_file()
    broken["services"]["web1"]["healthchek"] = {}
    assert not validator.is_valid(broken)


def test_the_compose_file_runs_migrations_once_and_puts_two_web_processes_behind_a_load_balancer():
    services = compose_file()["services"]
    web = [name for name, service in services.items() if "build" in service and name != "migrate"]
    assert len(web) >= 2
    for name in web:
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "entrypoint" not in services[name], "web processes run the server, not migrations"
    assert services["migrate"]["entrypoint"][-2:] == ["migrate", "--noinput"]
    assert set(services["lb"]["depends_on"]) == set(web)
    assert all("healthcheck" in service for name, service in services.items() if name != "migrate")


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    result = subprocess.run([hadolint, str(PROJECT_DIR / "docker" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
