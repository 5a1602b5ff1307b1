"""The container set-up, checked without a Docker engine: the Compose file against the
Compose specification's JSON schema, the Dockerfile with hadolint, and what they promise."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from api import servers
from tests.docker.files import (
    COMPOSE_FILE,
    NGINX_CONF,
    PROJECT_DIR,
    compose_file,
    dockerfile_instructions,
    interpolate,
    interpolated_names,
    read_env_file,
)

# A variable api/settings.py reads: os.environ.get("NAME", ...), env_flag("NAME", ...), _env_int("NAME", ...).
SETTING_READ = re.compile(r'(?:environ\.get|env_flag|_env_int|_env_float)\(\s*"(\w+)"')
# The Compose specification's schema, as shipped in docker-compose 1.29.2's wheel
# (compose/config/compose_spec.json).
COMPOSE_SCHEMA = Path(__file__).with_name("compose-spec.json")


def image_services(services: dict) -> list[str]:
    """The services that run the project's image (the one the migrate service builds)."""
    return [name for name, service in services.items() if service.get("image") == services["migrate"]["image"]]


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
    web = [name for name in image_services(services) if name != "migrate"]
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


def test_the_image_is_built_once_and_every_service_of_the_project_runs_it():
    services = compose_file()["services"]
    assert [name for name, service in services.items() if "build" in service] == ["migrate"]
    assert services["migrate"]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert set(image_services(services)) == {"migrate", "web1", "web2"}


def test_the_image_serves_as_api_servers_runs_uvicorn():
    # So the end-to-end tests, which start servers with api.servers, run what the image runs.
    (entrypoint,) = dockerfile_instructions("ENTRYPOINT")
    assert json.loads(entrypoint)[1:] == servers.command("uvicorn", host="0.0.0.0", port=8000)[1:]


def test_the_load_balancer_listens_on_loopback_unless_told_otherwise():
    (published,) = compose_file()["services"]["lb"]["ports"]
    assert interpolate(published, {}) == "127.0.0.1:8000:8080"
    assert interpolate(published, read_env_file()) == "127.0.0.1:8000:8080"
    assert interpolate(published, {"PUBLISH_ADDRESS": "0.0.0.0:80"}) == "0.0.0.0:80:8080"
    assert all("ports" not in service for name, service in compose_file()["services"].items() if name != "lb")


def test_the_production_settings_are_in_one_env_example_that_compose_reads():
    settings_read = set(SETTING_READ.findall((PROJECT_DIR / "api" / "settings.py").read_text()))
    example = read_env_file()
    compose_variables = interpolated_names(COMPOSE_FILE.read_text())
    assert compose_variables <= set(example), "every variable Compose interpolates is in .env.example"
    assert set(example) - compose_variables <= settings_read, "and every other one is a setting of the product"
    assert example["SECRET_KEY"] == "", "no usable secret is shipped: Compose refuses to start without one"
    with pytest.raises(ValueError, match="SECRET_KEY"):
        interpolate(compose_file()["services"]["web1"]["environment"]["SECRET_KEY"], example)
    assert (PROJECT_DIR / ".gitignore").read_text().count("/docker/.env\n") == 1, "the filled-in copy is not committed"


def _nginx_rules(text: str) -> dict[str, set[str]]:
    """The paths an nginx configuration keeps from the application, and what it sends upstream."""
    text = re.sub(r"#[^\n]*", "", text)
    return {
        "not_found": set(re.findall(r"location = (\S+) \{\s*return 404;", text)),
        "headers": {" ".join(header.split()) for header in re.findall(r"proxy_set_header ([^;]+);", text)},
        "maps": {" ".join(block.split()) for block in re.findall(r"map ([^{]+)\{", text)},
    }


def test_the_readmes_nginx_block_does_what_the_shipped_nginx_conf_does():
    (block,) = re.findall(r"^```nginx\n(.*?)^```", (PROJECT_DIR / "README.md").read_text(), re.M | re.S)

    assert _nginx_rules(block) == _nginx_rules(NGINX_CONF.read_text())
