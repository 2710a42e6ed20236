"""What can be checked here without Docker or Kubernetes: the wiring of compose, chart, images.

Every SIGIL_* variable a deployment sets must be a setting of that service; ports, NATS URLs
and subject users must line up; no secret is written inline.
"""

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from sigil_shared.permissions import service_permissions
from sigil_shared.settings import (
    GatewaySettings,
    RedactorSettings,
    RendererSettings,
    SecretsSettings,
)

ROOT = Path(__file__).resolve().parents[2]
SETTINGS: dict[str, type[BaseSettings]] = {
    "secrets": SecretsSettings,
    "renderer": RendererSettings,
    "redactor": RedactorSettings,
    "gateway": GatewaySettings,
}
SERVICE_DIRS = {
    "secrets": "secrets",
    "renderer": "renderer",
    "redactor": "log-redactor",
    "gateway": "gateway",
}
SECRET_NAMES = re.compile(r"PASSWORD|KEK$|JWT_KEY$|MONGODB_URL|TOKEN", re.IGNORECASE)


def _fields(cls: type[BaseSettings]) -> set[str]:
    return {f"SIGIL_{name.upper()}" for name in cls.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_production_topology(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {
        "nats-1",
        "nats-2",
        "nats-3",
        "mongo-1",
        "mongo-2",
        "mongo-3",
        "secrets",
        "renderer",
        "redactor",
        "gateway",
        "otel-collector",
        "jaeger",
    } <= set(services)
    assert services["redactor"]["deploy"]["replicas"] == 2
    assert services["secrets"]["environment"]["SIGIL_STORE"] == "mongodb"
    assert services["gateway"]["ports"] == ["8080:8080"]
    for node in ("nats-1", "nats-2", "nats-3"):
        command = " ".join(services[node]["command"])
        assert "--cluster_name sigil" in command
        assert "nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222" in command
    for name in ("mongo-1", "mongo-2", "mongo-3"):
        assert "--replSet" in services[name]["command"]


@pytest.mark.parametrize("service", list(SETTINGS))
def test_compose_environment_matches_the_settings(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    env: dict[str, str] = spec["environment"]
    unknown = {k for k in env if k.startswith("SIGIL_")} - _fields(SETTINGS[service])
    assert not unknown, unknown
    assert env["SIGIL_NATS_USER"] == service
    assert set(env["SIGIL_NATS_URL"].split(",")) == {
        "nats://nats-1:4222",
        "nats://nats-2:4222",
        "nats://nats-3:4222",
    }
    assert env["SIGIL_JS_REPLICAS"] == "3"
    assert spec["env_file"] == [f"./.sigil/compose/{service}.env"]
    assert spec["build"]["dockerfile"] == f"services/{SERVICE_DIRS[service]}/Dockerfile"
    for key, value in env.items():
        if SECRET_NAMES.search(key) and not key.endswith("_FILE"):
            pytest.fail(f"{service}: {key}={value!r} is a secret written inline")


def test_compose_secrets_come_from_files(compose: dict[str, Any]) -> None:
    assert compose["secrets"] == {
        "kek": {"file": "./.sigil/kek.keys"},
        "audit_key": {"file": "./.sigil/audit.keys"},
        "jwt_key": {"file": "./.sigil/jwt.key"},
    }
    assert compose["services"]["secrets"]["environment"]["SIGIL_KEK_FILE"] == "/run/secrets/kek"
    gateway = compose["services"]["gateway"]["environment"]
    assert gateway["SIGIL_JWT_KEY_FILE"] == "/run/secrets/jwt_key"


def test_sigil_init_writes_every_file_compose_mounts(tmp_path: Path) -> None:
    from sigil_cli.embedded import DataDir, write_compose_files

    folder = write_compose_files(DataDir(tmp_path / ".sigil"))
    for service in SETTINGS:
        text = (folder / f"{service}.env").read_text()
        assert text.startswith("SIGIL_NATS_PASSWORD=")
        assert (folder / f"{service}.env").stat().st_mode & 0o777 == 0o600
    assert "SIGIL_MONGODB_URL=mongodb://mongo-1:27017" in (folder / "secrets.env").read_text()
    conf = yaml.safe_load((folder / "nats.conf").read_text())  # JSON is YAML
    assert {u["user"] for u in conf["authorization"]["users"]} == set(service_permissions())


@pytest.mark.parametrize("service", list(SERVICE_DIRS))
def test_each_image_holds_only_its_service(service: str) -> None:
    text = (ROOT / "services" / SERVICE_DIRS[service] / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (\S+)", text, re.MULTILINE)
    assert copies == ["constraints.txt", "shared", f"services/{SERVICE_DIRS[service]}"]
    assert re.search(r"^USER 10001$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text
    assert "python:3.11-slim" in text


def test_helm_chart_wiring() -> None:
    chart_dir = ROOT / "deploy" / "helm" / "sigil"
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    assert [d["name"] for d in chart["dependencies"]] == ["nats"]
    values = yaml.safe_load((chart_dir / "values.yaml").read_text())
    assert values["jetstreamReplicas"] == 3
    assert values["redactor"]["autoscaling"]["enabled"] is True
    templates = {p.stem: p.read_text() for p in (chart_dir / "templates").glob("*.yaml")}
    helpers = (chart_dir / "templates" / "_helpers.tpl").read_text()
    for service, cls in SETTINGS.items():
        source = templates[service] + helpers
        names = set(re.findall(r"name: (SIGIL_[A-Z_]+)", source))
        assert names <= _fields(cls), names - _fields(cls)
    assert "path: /healthz" in templates["gateway"]
    assert "path: /readyz" in templates["gateway"]
    assert "kind: HorizontalPodAutoscaler" in templates["redactor-hpa"]
    assert "secretName: {{ .Values.existingSecrets.kek }}" in templates["secrets"]
    readme = (chart_dir / "README.md").read_text()
    for key in (
        "existingSecrets.kek",
        "jetstreamReplicas",
        "redactor.autoscaling",
        "gateway.jwksUrl",
    ):
        assert key in readme
