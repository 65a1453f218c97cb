"""The deployment files say what docs/deployment.md says they do: compose's services and how
they start, the image's config (non-root, 0.0.0.0, SQLite on the volume, a health check), the
systemd unit, and a .env.example that names every secret any config file reads."""

from __future__ import annotations

import configparser
import dataclasses
import re
from typing import Any

import yaml

from bot.config import load_config
from payments.gateways import GATEWAYS
from payments.gateways.spec import SECRET
from tests.conftest import ROOT

ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
COMMENT = re.compile(r"(^|\s)#.*$", re.MULTILINE)
CONTAINER_ENV = {
    "CHECKOUT_PUBLIC_URL": "https://shop.example.com",
    "TELEGRAM_BOT_TOKEN": "7000000001:a-token-for-this-test",
    "TELEGRAM_WEBHOOK_SECRET": "a-webhook-secret",
}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_compose_runs_postgresql_a_migration_and_two_instances_behind_a_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "migrate", "app1", "app2", "proxy"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    migrate = services["migrate"]
    assert migrate["command"] == ["db", "upgrade"]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("app1", "app2"):
        app = services[name]
        assert app["build"] == "." and app["command"] == ["run"]
        assert app["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        url = app["environment"]["CHECKOUT_DATABASE_URL"]
        assert url.startswith("postgresql+asyncpg://") and "@postgres:5432/" in url
        assert app["environment"]["CHECKOUT_PUBLIC_URL"].startswith("https://")
    proxy = services["proxy"]["command"]
    upstreams = [proxy[i + 1] for i, arg in enumerate(proxy) if arg == "--to"]
    assert upstreams == ["app1:8080", "app2:8080"]


def test_the_containers_config_serves_every_interface_in_webhook_mode_on_postgresql() -> None:
    url = compose()["services"]["app1"]["environment"]["CHECKOUT_DATABASE_URL"]
    url = url.replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "pw")
    env = {**CONTAINER_ENV, "CHECKOUT_DATABASE_URL": url}
    config = load_config(ROOT / "deploy" / "config.toml", environ=env)
    assert config.server.host == "0.0.0.0" and config.server.port == 8080
    assert config.database.url == "postgresql+asyncpg://checkout:pw@postgres:5432/checkout"
    assert config.telegram.enabled and config.telegram.mode == "webhook"
    assert config.load_catalog().products


def test_a_lone_container_keeps_sqlite_on_its_volume() -> None:
    config = load_config(ROOT / "deploy" / "config.toml", environ=CONTAINER_ENV)
    assert config.database.url == "sqlite+aiosqlite:////data/checkout.db"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'VOLUME ["/data"]' in dockerfile


def test_the_image_runs_as_a_user_with_a_health_check_on_healthz() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    health = "\n".join(
        lines[next(i for i, s in enumerate(lines) if s.startswith("HEALTHCHECK")) :]
    )
    assert "/healthz" in health.split("ENTRYPOINT")[0]
    assert "COPY deploy/config.toml deploy/catalog.toml /app/" in lines
    assert 'ENTRYPOINT ["checkout-bot", "--config", "/app/config.toml"]' in lines


def test_the_systemd_unit_runs_the_service_and_does_not_retry_a_config_mistake() -> None:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((ROOT / "deploy" / "checkout-bot.service").read_text())
    service = unit["Service"]
    assert service["ExecStart"].endswith(" run")
    assert service["ExecStartPre"].endswith(" check-config")
    assert service["RestartPreventExitStatus"] == "2" and service["Restart"] == "on-failure"
    assert service["User"] not in ("root", "0") and service["NoNewPrivileges"] == "yes"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_env_example_names_every_variable_a_config_or_compose_reads() -> None:
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    read = set()
    for file in ("config.toml", "deploy/config.toml", "compose.yaml"):
        text = COMMENT.sub("", (ROOT / file).read_text())
        read |= set(ENV_NAME.findall(text))
    for spec in GATEWAYS.values():  # a gateway's default secrets, written or not
        for f in dataclasses.fields(spec.settings):
            if f.metadata.get("kind") == SECRET and isinstance(f.default, str):
                read |= set(ENV_NAME.findall(f.default))
    assert read - named == set(), "add these to .env.example"


def test_the_constraints_pin_every_runtime_dependency() -> None:
    import tomllib

    def name(requirement: str) -> str:
        return re.split(r"[<>=\[ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {
        name(r) for r in project["dependencies"] + project["optional-dependencies"]["postgres"]
    }
    text = (ROOT / "deploy" / "constraints.txt").read_text()
    pinned = {name(line) for line in text.splitlines() if "==" in line}
    assert wanted - pinned == set()
    assert "phonenumbers" not in pinned  # the lite package: parse, validate, format only
