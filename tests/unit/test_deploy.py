"""What can be checked here without Docker or Kubernetes: the wiring of compose, chart, images.

Every SIGIL_* variable a deployment sets must be a setting of that service; ports, NATS URLs
and subject users must line up; no secret is written inline. Compose is read with its
variable interpolation applied; the Helm chart is rendered by deploy/helm/render (Go's own
text/template with the Helm functions the chart uses, missing values as errors) since
``helm`` is not packaged for this machine, and every rendered document is parsed as YAML.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from sigil_shared.operations import USERS
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
#: Read by sigil_shared.telemetry from the environment of any service, not a Settings field.
TELEMETRY_VARIABLES = {"SIGIL_METRICS_PORT", "SIGIL_METRICS_HOST"}
CHART = ROOT / "deploy" / "helm" / "sigil"
_INTERPOLATION = re.compile(r"\$\$|\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def _fields(cls: type[BaseSettings]) -> set[str]:
    return {f"SIGIL_{name.upper()}" for name in cls.model_fields}


def _interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation: ``${VAR}``, ``${VAR:-default}``, ``$$``."""
    if isinstance(node, str):
        return _INTERPOLATION.sub(
            lambda m: "$" if m[0] == "$$" else env.get(m[1]) or (m[2] or ""), node
        )
    if isinstance(node, dict):
        return {k: _interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, env) for v in node]
    return node


def _load_compose(env: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(_interpolate(data, env))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return _load_compose({})


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
    assert spec["user"] == "10001:10001"
    assert spec["depends_on"]["sigil-setup"] == {"condition": "service_completed_successfully"}
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
    assert "python:3.11-slim" in text
    # The health check asks the process over HTTP (no NATS) from a bare interpreter.
    (check,) = re.findall(r"^HEALTHCHECK .*\n\s+CMD (\[.*\])$", text, re.MULTILINE)
    command = json.loads(check)
    assert command[:4] == ["python", "-I", "-S", "-c"]
    assert "sigil_shared" not in check
    if service == "gateway":
        assert "http://127.0.0.1:8080/healthz" in command[4]
    else:
        (port,) = re.findall(r"SIGIL_METRICS_PORT=(\d+)", text)
        assert f"http://127.0.0.1:{port}/metrics" in command[4]


def test_compose_secrets_are_readable_by_the_user_the_services_run_as(tmp_path: Path) -> None:
    from sigil_cli.embedded import DataDir, write_compose_files

    data_dir = tmp_path / "elsewhere" / "data"
    folder = write_compose_files(DataDir(data_dir))
    env = dict(
        line.split("=", 1) for line in (folder / "compose.env").read_text().splitlines() if line
    )
    assert env["SIGIL_DATA_DIR"] == str(data_dir.resolve())
    spec = _load_compose(env)
    uid, gid = int(env["SIGIL_UID"]), int(env["SIGIL_GID"])
    assert uid != 0  # never root, even when init ran as root
    for service in SETTINGS:
        assert spec["services"][service]["user"] == f"{uid}:{gid}"
    assert spec["services"]["sigil-setup"]["user"] == f"{uid}:{gid}"
    for name, secret in spec["secrets"].items():
        path = Path(secret["file"])
        assert path.parent == data_dir.resolve(), name
        info = path.stat()
        # Compose bind-mounts the file with its host owner and mode: 0600, so the owner
        # must be the uid the containers run as.
        assert info.st_mode & 0o777 == 0o600, name
        assert info.st_uid == uid, name
    if os.geteuid() == 0:
        assert uid == 10001  # handed to the images' user rather than running as root


def test_compose_follows_the_data_dir(tmp_path: Path) -> None:
    lines = (ROOT / "docker-compose.yml").read_text().splitlines()
    raw = "\n".join(ln for ln in lines if not ln.lstrip().startswith("#"))
    # Every path into the data dir goes through SIGIL_DATA_DIR (default ./.sigil).
    assert raw.count("./.sigil") == raw.count("${SIGIL_DATA_DIR:-./.sigil}")
    from sigil_cli.embedded import DataDir, write_compose_files

    data_dir = tmp_path / "srv" / "sigil"
    write_compose_files(DataDir(data_dir))
    spec = _load_compose({"SIGIL_DATA_DIR": str(data_dir)})
    host_paths = [
        *(p for svc in spec["services"].values() for p in svc.get("env_file", [])),
        *(v.split(":")[0] for svc in spec["services"].values() for v in svc.get("volumes", [])),
        *(s["file"] for s in spec["secrets"].values()),
    ]
    into_data = [p for p in host_paths if not p.startswith(("./deploy/", "nats-", "mongo-"))]
    assert len(into_data) == 3 + 5 + 3  # nats.conf x3, env files x5, key files x3
    for path in into_data:
        assert path.startswith(str(data_dir) + "/"), path
        assert Path(path).is_file(), path


def test_compose_runs_the_setup_step_before_the_services(compose: dict[str, Any]) -> None:
    setup = compose["services"]["sigil-setup"]
    assert "python -m sigil_shared.setup" in setup["command"][-1]
    # $$ in the file is a literal $ for the shell: the retry loop survives interpolation.
    assert "$(seq 30)" in setup["command"][-1]
    assert setup["env_file"] == ["./.sigil/compose/bootstrap.env"]
    assert setup["restart"] == "no"
    for service in SETTINGS:
        spec = compose["services"][service]
        assert spec["depends_on"]["sigil-setup"]["condition"] == "service_completed_successfully"
        # The bootstrap credential stays out of every service.
        assert not any("bootstrap" in f for f in spec["env_file"])


def _load_script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def nats_values() -> ModuleType:
    return _load_script(ROOT / "deploy" / "helm" / "nats_values.py")


def test_helm_nats_users_match_the_permission_table(nats_values: ModuleType) -> None:
    text = (CHART / "values.yaml").read_text()
    assert nats_values.rewrite(text) == text, (
        "stale: run .venv/bin/python deploy/helm/nats_values.py"
    )
    values = yaml.safe_load(text)
    users = values["nats"]["config"]["merge"]["authorization"]["users"]
    # The same users and permissions sigil init / sigil up write (sigil_shared.permissions).
    from sigil_cli.embedded import nats_config

    passwords = {user: f"pw-{user}" for user in USERS}
    embedded = json.loads(nats_config(passwords=passwords, store_dir=Path("/data"), port=4222))
    expected = embedded["authorization"]["users"]
    assert [u["user"] for u in users] == [u["user"] for u in expected] == list(USERS)
    for mine, theirs in zip(users, expected, strict=True):
        assert mine["permissions"] == theirs["permissions"]
        assert mine["permissions"]["allow_responses"] is True
        user = mine["user"]
        # Private reply inbox only: never _INBOX.> or another user's prefix.
        subscribe = mine["permissions"]["subscribe"]["allow"]
        assert f"_INBOX.{user}.>" in subscribe
        assert not [s for s in subscribe if s.startswith("_INBOX.") and s != f"_INBOX.{user}.>"]
        assert ">" not in subscribe
        # Passwords come from the NATS pods' environment (Secrets), never from values.
        variable = mine["password"].removeprefix("<< $").removesuffix(" >>")
        assert mine["password"] == f"<< ${variable} >>"
        ref = values["nats"]["container"]["env"][variable]["valueFrom"]["secretKeyRef"]
        if user == "bootstrap":
            assert ref == {"name": values["existingSecrets"]["natsBootstrap"], "key": "password"}
        else:
            assert ref == {"name": values["existingSecrets"]["natsUsers"], "key": user}
    assert values["nats"]["config"]["merge"]["max_payload"] >= embedded["max_payload"]


def _render_context(values: dict[str, Any], revision: int = 1) -> dict[str, Any]:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return {
        "Values": values,
        "Release": {"Name": "sigil", "Namespace": "sigil", "Revision": revision},
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart["appVersion"],
        },
    }


@pytest.fixture(scope="module")
def renderer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("Go is not installed (Debian's golang-go renders the chart's templates)")
    out = tmp_path_factory.mktemp("helm") / "render"
    source = ROOT / "deploy" / "helm" / "render" / "main.go"
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="")
    subprocess.run([go, "build", "-o", str(out), str(source)], check=True, env=env, timeout=120)
    return out


def _render(renderer: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(renderer), str(CHART)],
        input=json.dumps(_render_context(values)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    for doc in docs:  # lint: every object is complete and named
        assert {"apiVersion", "kind", "metadata"} <= set(doc), doc
        assert doc["metadata"]["name"].startswith("sigil-")
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "sigil"
    names = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert len(names) == len(set(names)), names
    return docs


def _default_values() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return data


def _pods(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"].removeprefix("sigil-"): d["spec"]["template"]["spec"]
        for d in docs
        if d["kind"] in {"Deployment", "Job"}
    }


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_helm_chart_renders_with_defaults(renderer: Path) -> None:
    docs = _render(renderer, _default_values())
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [
        ("Deployment", "sigil-gateway"),
        ("Deployment", "sigil-redactor"),
        ("Deployment", "sigil-renderer"),
        ("Deployment", "sigil-secrets"),
        ("HorizontalPodAutoscaler", "sigil-redactor"),
        ("Job", "sigil-setup-1"),
        ("Service", "sigil-gateway"),
    ]
    pods = _pods(docs)
    for name, pod in pods.items():
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001}
        for container in pod["containers"] + pod.get("initContainers", []):
            env = _env(container)
            service = "secrets" if name == "setup-1" else name
            unknown = {k for k in env if k.startswith("SIGIL_")}
            unknown -= _fields(SETTINGS[service]) | TELEMETRY_VARIABLES
            assert not unknown, (name, unknown)
            assert env["SIGIL_NATS_URL"] == "nats://sigil-nats:4222"
            for key, value in env.items():
                if SECRET_NAMES.search(key) and not key.endswith("_FILE"):
                    assert isinstance(value, dict), f"{name}: {key} is inline"


def test_helm_images_are_a_documented_value(renderer: Path) -> None:
    values = _default_values()
    images = {
        c["image"] for pod in _pods(_render(renderer, values)).values() for c in pod["containers"]
    }
    # Default: the names docker build -t gives in each Dockerfile, tagged with appVersion.
    assert images == {f"sigil-{s}:0.1.0" for s in SETTINGS}
    for service, directory in SERVICE_DIRS.items():
        dockerfile = (ROOT / "services" / directory / "Dockerfile").read_text()
        assert f"-t {values['image']['names'][service]} ." in dockerfile
    values["image"] |= {"registry": "registry.example.com/platform/", "tag": "1.4.2"}
    pods = _pods(_render(renderer, values))
    assert pods["gateway"]["containers"][0]["image"] == (
        "registry.example.com/platform/sigil-gateway:1.4.2"
    )
    assert pods["renderer"]["initContainers"][0]["image"] == (
        "registry.example.com/platform/sigil-renderer:1.4.2"
    )
    readme = (CHART / "README.md").read_text()
    for key in ("image.registry", "image.tag", "image.names"):
        assert key in readme


def test_helm_probes_start_no_process_and_liveness_needs_no_nats(renderer: Path) -> None:
    values = _default_values()
    pods = _pods(_render(renderer, values))
    gateway = pods["gateway"]["containers"][0]
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    for service in ("secrets", "renderer", "redactor"):
        container = pods[service]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = _env(container)
        assert int(env["SIGIL_METRICS_PORT"]) == ports["metrics"] == values["metricsPort"]
        assert env["SIGIL_METRICS_HOST"] == "0.0.0.0"  # the kubelet probes the pod IP
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
            assert "exec" not in container[probe]
    rendered = json.dumps(pods)
    assert "sigil_shared.healthcheck" not in rendered
    # The endpoint is served by the process itself (sigil_shared.telemetry), from these names.
    telemetry = (ROOT / "shared" / "src" / "sigil_shared" / "telemetry.py").read_text()
    for name in TELEMETRY_VARIABLES:
        assert f'"{name}"' in telemetry


def test_helm_setup_job_runs_as_bootstrap_and_services_wait_for_it(renderer: Path) -> None:
    values = _default_values()
    docs = _render(renderer, values)
    pods = _pods(docs)
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["spec"]["backoffLimit"] == values["setup"]["backoffLimit"]
    setup = pods["setup-1"]["containers"][0]
    assert setup["command"] == ["python", "-m", "sigil_shared.setup"]
    env = _env(setup)
    assert env["SIGIL_NATS_USER"] == "bootstrap"
    assert env["SIGIL_JS_REPLICAS"] == "3"
    assert env["SIGIL_NATS_PASSWORD"] == {
        "secretKeyRef": {"name": values["existingSecrets"]["natsBootstrap"], "key": "password"}
    }
    bootstrap_secret = values["existingSecrets"]["natsBootstrap"]
    for service in ("secrets", "renderer", "redactor", "gateway"):
        pod = pods[service]
        assert bootstrap_secret not in json.dumps(pod), service
        for container in pod["containers"] + pod.get("initContainers", []):
            assert _env(container)["SIGIL_NATS_USER"] == service
    for service in ("secrets", "renderer", "redactor"):
        (wait,) = pods[service]["initContainers"]
        assert wait["command"] == [
            "python",
            "-m",
            "sigil_shared.wait_streams",
            service,
            str(values["setup"]["waitSeconds"]),
        ]
    # Jobs are immutable: each release revision gets its own, so upgrades re-run the setup.
    context = _render_context(values, revision=7)
    assert "sigil-setup-7" in (
        subprocess.run(
            [str(renderer), str(CHART)],
            input=json.dumps(context),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    )


def test_helm_chart_wiring(renderer: Path) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert [d["name"] for d in chart["dependencies"]] == ["nats"]
    values = _default_values()
    assert values["jetstreamReplicas"] == 3
    assert values["redactor"]["autoscaling"]["enabled"] is True
    values["gateway"]["jwksUrl"] = "https://idp.example.com/jwks.json"
    values["store"] = {"kind": "mongodb", "mongodbSecret": "sigil-mongo"}
    values["otel"]["endpoint"] = "http://otel-collector:4318"
    values["redactor"]["autoscaling"]["enabled"] = False
    pods = _pods(docs := _render(renderer, values))
    assert "HorizontalPodAutoscaler" not in {d["kind"] for d in docs}
    gateway = _env(pods["gateway"]["containers"][0])
    assert gateway["SIGIL_JWKS_URL"] == "https://idp.example.com/jwks.json"
    assert "SIGIL_JWT_KEY_FILE" not in gateway
    secrets_env = _env(pods["secrets"]["containers"][0])
    assert secrets_env["SIGIL_MONGODB_URL"] == {
        "secretKeyRef": {"name": "sigil-mongo", "key": "url"}
    }
    assert secrets_env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"
    volumes = {v["name"]: v["secret"]["secretName"] for v in pods["secrets"]["volumes"]}
    assert volumes == {"kek": "sigil-kek", "audit-key": "sigil-audit-key"}
    readme = (CHART / "README.md").read_text()
    for key in (
        "existingSecrets.kek",
        "existingSecrets.natsBootstrap",
        "jetstreamReplicas",
        "redactor.autoscaling",
        "gateway.jwksUrl",
        "metricsPort",
        "setup.waitSeconds",
        "nats_values.py",
    ):
        assert key in readme
