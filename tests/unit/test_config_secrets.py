"""Every secret checked at start-up, whether written in config.toml or left to its default;
bounds and choices named by key; one copy of the shipped defaults.

The secrets are the fields each section declares with `meta(SECRET)` (a gateway's in its own
payments/gateways/<name>/settings.py), so a new gateway is covered here by declaring them.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.config import DEFAULT_FILE, ConfigError, load_config
from payments.gateways import GATEWAYS
from payments.gateways.spec import SECRET
from tests.conftest import ROOT
from tests.unit.test_config import SHIPPED, cli, write

ENV_NAME = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
LONG = "a-secret-of-twenty-characters-or-more"


def required_secrets() -> list[tuple[str, str]]:
    return [
        (name, f.name)
        for name, spec in GATEWAYS.items()
        for f in dataclasses.fields(spec.settings)
        if f.metadata.get("kind") == SECRET and not f.metadata.get("optional")
    ]


def only_enabled(name: str, written: dict[str, str]) -> str:
    """A file that enables one gateway with nothing but the keys in `written`."""
    lines = [f"[payments.{name}]", "enabled = true", *(f'{k} = "{v}"' for k, v in written.items())]
    return f'[shop]\ncurrency = "{currency_for(name)}"\n' + "\n".join(lines) + "\n"


def currency_for(name: str) -> str:
    """A currency the gateway takes (the config refuses one the shop does not sell in)."""
    spec = GATEWAYS[name]
    kinds = {method.partition(":")[0] for method in spec.methods}
    if any(spec.takes(kind, "IDR") for kind in kinds):
        return "IDR"
    return sorted(set().union(*(spec.currencies.get(kind, ()) for kind in kinds)))[0]


def env_for_defaults(name: str) -> dict[str, str]:
    """A value for each environment variable the gateway's secret defaults name."""
    env = {}
    for f in dataclasses.fields(GATEWAYS[name].settings):
        found = ENV_NAME.search(f.default) if isinstance(f.default, str) else None
        if f.metadata.get("kind") == SECRET and found:
            env[found.group(1)] = LONG
    return env


def written_for_empty_defaults(name: str) -> dict[str, str]:
    """Secrets whose default names no variable must be written (the sandbox's)."""
    return {
        f.name: LONG
        for f in dataclasses.fields(GATEWAYS[name].settings)
        if f.metadata.get("kind") == SECRET and f.default == ""
    }


def test_every_gateway_declares_at_least_one_secret() -> None:
    declared = {name for name, _ in required_secrets()}
    assert declared == set(GATEWAYS)


@pytest.mark.parametrize(("name", "secret"), required_secrets())
def test_an_enabled_gateway_without_its_secret_names_the_key(
    tmp_path: Path, name: str, secret: str
) -> None:
    env = env_for_defaults(name)
    written = written_for_empty_defaults(name)
    load_config(write(tmp_path, only_enabled(name, written)), environ=env)  # complete: loads
    default = getattr(GATEWAYS[name].settings, secret, "")
    found = ENV_NAME.search(default) if isinstance(default, str) else None
    if found:
        env = {k: v for k, v in env.items() if k != found.group(1)}
    else:
        written = {**written, secret: ""}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, only_enabled(name, written)), environ=env)
    assert caught.value.key == f"payments.{name}.{secret}", str(caught.value)
    assert LONG not in str(caught.value)


def test_a_default_secret_is_read_from_the_environment_like_a_written_one(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, only_enabled("midtrans", {}))
    config = load_config(path, environ={"MIDTRANS_SERVER_KEY": "SB-Mid-server-x"})
    assert config.payments.midtrans.server_key == "SB-Mid-server-x"


def test_a_secret_whose_variable_is_empty_names_the_key_and_the_variable(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, only_enabled("xendit", {"callback_token": "${XENDIT_TOKEN:-}"}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"XENDIT_SECRET_KEY": LONG})
    assert caught.value.key == "payments.xendit.callback_token"
    assert "XENDIT_TOKEN" in str(caught.value)


def test_a_switched_off_gateway_may_name_variables_that_are_not_set(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SHIPPED), environ={})
    assert not config.payments.enabled()
    assert "${" not in repr(config.payments)  # nothing left unread, even when off


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("port = 8080", "port = 0", "server.port"),
        ("port = 8080", "port = 70000", "server.port"),
        ('read_timeout = "15s"', 'read_timeout = "0s"', "server.read_timeout"),
        ("[database]\n", "[database]\npool_size = 0\n", "database.pool_size"),
        ('mode = "polling"', 'mode = "push"', "telegram.mode"),
        ("drop_share = 0.0", "drop_share = 1.5", "payments.sandbox.drop_share"),
        ("# [reconcile]\n", "[reconcile]\njitter = 1.0\n", "reconcile.jitter"),
        ("# [reconcile]\n", "[reconcile]\nbatch = 0\n", "reconcile.batch"),
        ("# [reconcile]\n", '[reconcile]\ntick = "0s"\n', "reconcile.tick"),
        (
            "# [reconcile]\n",
            "[reconcile.rate_limits]\nmidtrans = 0\n",
            "reconcile.rate_limits.midtrans",
        ),
    ],
)
def test_a_number_or_choice_out_of_bounds_names_its_key(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    assert old in SHIPPED
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, SHIPPED.replace(old, new, 1)), environ={})
    assert caught.value.key == key, str(caught.value)


def test_telegram_enabled_without_a_token_names_the_key(tmp_path: Path) -> None:
    text = SHIPPED.replace("[telegram]\nenabled = false", "[telegram]\nenabled = true")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={"TELEGRAM_BOT_TOKEN": ""})
    assert caught.value.key == "telegram.token"


def test_the_packaged_default_is_the_shipped_config_toml() -> None:
    """`checkout-bot demo` after pip install reads the packaged copy: it must not drift."""
    assert DEFAULT_FILE.read_text() == (ROOT / "config.toml").read_text()


def test_check_config_names_a_gateways_missing_default_secret_and_exits_2(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, SHIPPED.replace(*MIDTRANS_ON).replace(MIDTRANS_KEY_LINE, ""))
    done = cli("--config", str(path), "check-config", cwd=tmp_path)
    assert done.returncode == 2, done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "payments.midtrans.server_key" in done.stderr
    assert "MIDTRANS_SERVER_KEY" in done.stderr


MIDTRANS_ON = ("[payments.midtrans]\nenabled = false", "[payments.midtrans]\nenabled = true")
MIDTRANS_KEY_LINE = 'server_key = "${MIDTRANS_SERVER_KEY}"\n'
