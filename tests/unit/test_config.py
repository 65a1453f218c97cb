"""config.toml: the shipped file loads; every mistake is one line naming the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.conftest import ROOT

SHIPPED = (ROOT / "config.toml").read_text()
SANDBOX_OFF = "[payments.sandbox]\nenabled = false"
SANDBOX_ON = SHIPPED.replace(SANDBOX_OFF, "[payments.sandbox]\nenabled = true")
SANDBOX_ENV = {"CHECKOUT_SANDBOX_SECRET": "a-sandbox-secret-for-this-test"}
MIDTRANS_ON = ("[payments.midtrans]\nenabled = false", "[payments.midtrans]\nenabled = true")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_loads_with_working_defaults() -> None:
    config = load_config(ROOT / "config.toml", environ={})
    assert config.database.url == "sqlite+aiosqlite:///checkout.db"
    assert config.shop.timezone == "Asia/Jakarta" and config.shop.currency == "IDR"
    assert not config.payments.enabled()  # no gateway, above all no free one, until enabled
    catalog = config.load_catalog()
    assert 6 <= len(catalog.products) <= 10 and 2 <= len(catalog.categories) <= 3
    assert all(p.names["id"] and p.names["en"] for p in catalog.products)
    assert config.api.token == ""  # the API stays off until a token is set


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("[shop]\n", '[shop]\ncolour = "red"\n', "shop.colour"),
        ("port = 8080", 'port = "eighty"', "server.port"),
        ('currency = "IDR"', 'currency = "XYZ"', "shop.currency"),
        (
            'methods = ["va:bca", "qris", "link", "ussd"]',
            'methods = ["va"]',
            "payments.sandbox.methods[0]",
        ),
        (
            'methods = ["va:bca", "qris", "link", "ussd"]',
            'methods = ["crypto"]',
            "payments.sandbox.methods[0]",
        ),
        (
            'methods = ["va:bca", "qris", "link", "ussd"]',
            'methods = ["va:hsbc"]',
            "payments.sandbox.methods[0]",
        ),
        (
            'public_url = "http://127.0.0.1:8080"',
            'public_url = "localhost:8080"',
            "server.public_url",
        ),
        ('order_expiry = "24h"', 'order_expiry = "a day"', "shop.order_expiry"),
        ('timezone = "Asia/Jakarta"', 'timezone = "Mars/Olympus"', "shop.timezone"),
        ("price = 25000", "price = 250.5", "catalog.products[0].price"),
        (
            "[payments.midtrans]\nenabled = false",
            "[payments.midtrans]\nenabled = true",
            "payments.midtrans.server_key",
        ),
        (
            "[payments.sandbox]",
            "[payments.paypal]\nenabled = true\n[payments.sandbox]",
            "payments.paypal",
        ),
        ("[email]\nenabled = false", "[email]\nenabled = true", "email.host"),
        ('security = "starttls"', 'security = "ssl"', "email.security"),
        (
            '[email]\nenabled = false\nhost = ""',
            '[email]\nenabled = true\nhost = "smtp.example.com"',
            "email.sender",
        ),
    ],
)
def test_a_mistake_names_its_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    assert old in SANDBOX_ON
    path = write(tmp_path, SANDBOX_ON.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=SANDBOX_ENV)
    assert caught.value.key == key, str(caught.value)


def test_the_sandbox_needs_a_secret_of_its_own(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, SANDBOX_ON), environ={"CHECKOUT_SANDBOX_SECRET": "short"})
    assert caught.value.key == "payments.sandbox.secret" and "short" not in str(caught.value)


def test_the_sandbox_next_to_a_real_gateway_is_refused_unless_allowed(tmp_path: Path) -> None:
    both = SANDBOX_ON.replace(*MIDTRANS_ON)
    env = {**SANDBOX_ENV, "MIDTRANS_SERVER_KEY": "SB-Mid-server-x"}
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, both), environ=env)
    assert caught.value.key == "payments.sandbox.enabled" and "midtrans" in str(caught.value)
    allowed = both.replace("allow_with_real_gateways = false", "allow_with_real_gateways = true")
    config = load_config(write(tmp_path, allowed), environ=env)
    assert set(config.payments.enabled()) == {"sandbox", "midtrans"}


def test_a_secret_comes_from_the_environment_and_never_from_the_file(tmp_path: Path) -> None:
    text = SHIPPED.replace(
        "[payments.midtrans]\nenabled = false", "[payments.midtrans]\nenabled = true"
    )
    config = load_config(write(tmp_path, text), environ={"MIDTRANS_SERVER_KEY": "SB-Mid-server-x"})
    assert config.payments.midtrans.server_key == "SB-Mid-server-x"


def test_a_wrongly_typed_secret_is_not_echoed(tmp_path: Path) -> None:
    text = SHIPPED.replace('token = "${CHECKOUT_API_TOKEN:-}"', "token = 123456789")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    assert caught.value.key == "api.token" and "123456789" not in str(caught.value)


def test_durations_read_like_a_person_writes_them(tmp_path: Path) -> None:
    text = SHIPPED.replace('order_expiry = "24h"', 'order_expiry = "90m"')
    assert load_config(write(tmp_path, text), environ={}).shop.order_expiry == 5400


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_check_config_accepts_the_shipped_file() -> None:
    done = cli("check-config", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout and "methods: none" in done.stdout


def test_check_config_rejects_a_broken_file_in_one_line_with_exit_code_2(tmp_path: Path) -> None:
    path = write(tmp_path, SHIPPED.replace('currency = "IDR"', "currency = 5"))
    done = cli("--config", str(path), "check-config", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "shop.currency" in done.stderr


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    done = cli("--config", "nope.toml", "check-config", cwd=tmp_path)
    assert done.returncode == 2 and "nope.toml" in done.stderr and "not found" in done.stderr


def test_a_day_at_the_end_of_the_calendar_is_no_day_for_stats() -> None:
    from datetime import date

    from bot.merchant.report import day_range, parse_day

    today = date(2026, 11, 22)
    assert parse_day("9999-12-31", today) is None and parse_day("0001-01-01", today) is None
    last = parse_day("9998-12-31", today)
    assert last is not None and day_range(last, last, "Asia/Jakarta")[1].year == 9999
