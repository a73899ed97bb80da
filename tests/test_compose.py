"""The production compose files: valid Compose, and everything they reference exists.

No Docker engine runs here, so the files are checked offline: against the Compose JSON schema
(``reference/compose/compose-spec.json``), then for dangling references (services, volumes, networks,
``extends``, env vars that .env.example must document). ``docker compose config`` runs too when the
compose plugin is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import jsonschema
import pytest
import yaml

from gudang.settings import PROJECT_ROOT, REFERENCE_DIR

COMPOSE_FILES = ["docker-compose.yml", "docker-compose.celery.yml"]
AIRFLOW_SERVICES = {"api-server", "scheduler", "dag-processor", "triggerer"}
#: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}; "$$" is a literal dollar for the container shell.
ENV_REFERENCE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:[:?\-+][^}]*)?\}")


def _validate(document: dict, schema: dict) -> None:
    # The spec declares draft-07 by a URL jsonschema does not resolve offline; name the validator directly.
    jsonschema.Draft7Validator(schema).validate(document)


def _load(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / name).read_text())


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in (PROJECT_ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def _named_volumes(service: dict) -> set[str]:
    names = set()
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
        # Bind mounts start with a path or a variable; everything else names a top-level volume.
        if source and not source.startswith((".", "/", "~", "$")):
            names.add(source)
    return names


def _merged_services() -> dict[str, dict]:
    services: dict[str, dict] = {}
    for name in COMPOSE_FILES:
        for service_name, service in _load(name).get("services", {}).items():
            services.setdefault(service_name, {}).update(service)
    return services


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_compose_file_matches_the_compose_schema(name):
    schema = json.loads((REFERENCE_DIR / "compose" / "compose-spec.json").read_text())
    _validate(_load(name), schema)


def test_schema_check_catches_a_broken_file():
    schema = json.loads((REFERENCE_DIR / "compose" / "compose-spec.json").read_text())
    broken = _load("docker-compose.yml")
    broken["services"]["scheduler"]["comand"] = ["scheduler"]  # a typo the engine would also refuse
    with pytest.raises(jsonschema.ValidationError, match="comand"):
        _validate(broken, schema)


def test_production_stack_has_the_airflow_components_on_postgres_with_local_executor():
    compose = _load("docker-compose.yml")
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "airflow-init"} <= set(services)
    for name in AIRFLOW_SERVICES:
        service = services[name]
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert "healthcheck" in service, name
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert any(str(v).endswith(":/data") for v in service["volumes"]), f"{name} lacks the data home"
    assert "healthcheck" in services["postgres"]
    assert services["airflow-init"]["command"] == ["python", "-m", "gudang.airflow_setup"]
    assert (PROJECT_ROOT / services["api-server"]["build"]["dockerfile"]).exists()


def test_dockerfile_extends_the_official_airflow_image_at_the_locked_version():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    locked = re.search(
        r'name = "apache-airflow"\nversion = "([^"]+)"', (PROJECT_ROOT / "uv.lock").read_text()
    )
    assert locked, "apache-airflow missing from uv.lock"
    assert f"ARG AIRFLOW_VERSION={locked.group(1)}" in dockerfile
    assert "FROM apache/airflow:${AIRFLOW_VERSION}" in dockerfile
    assert "--frozen" in dockerfile, "the image must install from the lock, not re-resolve"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_referenced_service_volume_and_network_exists(name):
    compose = _load(name)
    all_services = _merged_services()
    volumes = set((_load("docker-compose.yml").get("volumes") or {}) | (compose.get("volumes") or {}))
    networks = set(compose.get("networks") or {}) | {"default"}
    for service_name, service in compose.get("services", {}).items():
        depends = service.get("depends_on", {})
        for dependency in depends if isinstance(depends, list) else depends.keys():
            assert dependency in all_services, f"{service_name} depends on unknown service {dependency}"
        assert _named_volumes(service) <= volumes, f"{service_name}: undeclared volume"
        service_networks = service.get("networks", [])
        assert set(service_networks) <= networks, f"{service_name}: undeclared network"
        if "extends" in service:
            target = _load(service["extends"]["file"])["services"]
            assert service["extends"]["service"] in target
        if "build" in service:
            assert (PROJECT_ROOT / service["build"]["context"]).is_dir()


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_every_env_var_the_compose_file_uses_is_documented_in_env_example(name):
    used = set(ENV_REFERENCE.findall((PROJECT_ROOT / name).read_text()))
    assert used, "the compose file takes its settings from .env"
    missing = used - set(_env_example())
    assert not missing, f"{name} uses variables missing from .env.example: {sorted(missing)}"


def test_every_secret_is_required_so_compose_refuses_to_start_without_it():
    """An unset secret would reach Airflow as an empty string: connections stored unencrypted, an empty JWT
    secret, a database without a password. ``${VAR:?message}`` makes Compose stop with the message instead."""
    texts = "".join((PROJECT_ROOT / name).read_text() for name in COMPOSE_FILES)
    secrets = {v for v in ENV_REFERENCE.findall(texts) if re.search(r"PASSWORD|SECRET|KEY", v)}
    assert {"AIRFLOW_FERNET_KEY", "GUDANG_HASH_KEY", "POSTGRES_PASSWORD"} <= secrets
    required = set(re.findall(r"\$\{(\w+):\?[^}]+\}", texts))
    assert secrets <= required, f"secrets Compose would start without: {sorted(secrets - required)}"


def test_env_example_holds_no_real_secret_and_env_is_not_committed():
    for key, value in _env_example().items():
        if re.search(r"PASSWORD|SECRET|KEY", key):
            assert value in ("", "change-me"), f"{key} must not carry a real secret in .env.example"
    gitignore = (PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in gitignore


def _airflow_env_with(values: dict[str, str]) -> dict[str, str]:
    """The Airflow services' environment (``x-airflow-env``) as Compose would pass it with ``values`` as .env."""

    def substitute(match: re.Match) -> str:
        default = re.fullmatch(r"\$\{\w+:?-(.*)\}", match.group(0))
        return values.get(match.group(1)) or (default.group(1) if default else "")

    return {
        key: ENV_REFERENCE.sub(substitute, str(value))
        for key, value in _load("docker-compose.yml")["x-airflow-env"].items()
    }


def test_airflow_init_refuses_a_deployment_still_holding_env_example_placeholders(tmp_path):
    """Compose only checks that each secret is set, and ``change-me`` is set. ``airflow-init`` (which every
    Airflow service waits for) stops on it, naming each variable, before it migrates anything."""
    env = {**os.environ, **_airflow_env_with(_env_example()), "AIRFLOW_HOME": str(tmp_path)}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
        "@postgres:5432",
        "@127.0.0.1:1",  # were it to connect, it would fail fast, not wait on DNS
    )
    done = subprocess.run(
        [sys.executable, "-m", "gudang.airflow_setup"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    for name in (
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",  # the PostgreSQL password inside the URL
        "GUDANG_HASH_KEY",
    ):
        assert f"{name} masih bernilai 'change-me'" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "airflow metadata ready" not in done.stderr
    assert list(tmp_path.iterdir()) == [], "nothing is set up for a refused deployment"


@pytest.mark.skipif(
    shutil.which("docker") is None
    or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
    reason="docker compose plugin not installed",
)
def test_docker_compose_config_accepts_both_files(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text((PROJECT_ROOT / ".env.example").read_text())
    args = ["docker", "compose", "--env-file", str(env_file)]
    for name in COMPOSE_FILES:
        args += ["-f", str(PROJECT_ROOT / name)]
    subprocess.run([*args, "config", "--quiet"], check=True, cwd=PROJECT_ROOT)
