"""The deployment files read as Docker and Compose read them, for the checks here and the end-to-end tests."""

import re
import shlex
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
DOCKER_DIR = PROJECT_DIR / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
ENV_EXAMPLE = DOCKER_DIR / ".env.example"
NGINX_CONF = DOCKER_DIR / "nginx.conf"

# Compose's interpolation: $$, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}.
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>\w+)(?:(?P<operator>:?[-?])(?P<argument>[^}]*))?\})")


def compose_file() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """NAME=value lines, as Compose reads an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _equals, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, variables: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator = match["name"], match["operator"] or ""
        current = variables.get(name)
        missing = current is None or (current == "" and operator.startswith(":"))
        if missing and operator.endswith("-"):
            return match["argument"]
        if missing and operator.endswith("?"):
            raise ValueError(f"{name}: {match['argument']}")
        return current or ""

    return _VARIABLE.sub(value, text)


def interpolated_names(text: str) -> set[str]:
    """The variables `text` interpolates."""
    return {match["name"] for match in _VARIABLE.finditer(text) if match["name"]}


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction (ENV, COPY, ...), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [line.split(None, 1)[1] for line in text.splitlines() if line.split(None, 1)[:1] == [name]]


def image_environment() -> dict[str, str]:
    """What the Dockerfile's ENV instructions set (NAME=value form)."""
    return dict(word.split("=", 1) for arguments in dockerfile_instructions("ENV") for word in shlex.split(arguments))


def web_environment(dot_env: dict[str, str]) -> dict[str, str]:
    """A web process's environment under Compose, given docker/.env: the image's ENV,
    then the env_file, then the service's `environment` interpolated with docker/.env."""
    web = compose_file()["services"]["web1"]
    environment = {name: interpolate(str(value), dot_env) for name, value in web["environment"].items()}
    assert web["env_file"] == ".env", "the env_file is docker/.env, made from docker/.env.example"
    return {**image_environment(), **dot_env, **environment}


def healthchecks() -> dict[str, list[str]]:
    """Each service's health-check command (CMD form), and the image's own as "image"."""
    commands = {
        name: service["healthcheck"]["test"]
        for name, service in compose_file()["services"].items()
        if not service.get("healthcheck", {}).get("disable")
    }
    (image_check,) = dockerfile_instructions("HEALTHCHECK")
    commands["image"] = ["CMD", *yaml.safe_load(image_check.split("CMD", 1)[1])]
    return commands
