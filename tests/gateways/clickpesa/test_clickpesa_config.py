"""[payments.clickpesa] as shipped and as a merchant might get it wrong: every mistake names
its key, and the shipped section is off."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from payments.gateways import GATEWAYS

ROOT = Path(__file__).resolve().parents[3]
ENV = {"CLICKPESA_CLIENT_ID": "IDmadeup0001", "CLICKPESA_API_KEY": "SKmadeup"}


def turned_on(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = (ROOT / "config.toml").read_text()
    section = text.index("[payments.clickpesa]")
    head, tail = text[:section], text[section:]
    head = head.replace('currency = "IDR"', 'currency = "TZS"', 1)  # ClickPesa takes TZS only
    tail = tail.replace("enabled = false", "enabled = true", 1)
    if old:
        assert old in tail
        tail = tail.replace(old, new, 1)
    path = tmp_path / "config.toml"
    path.write_text(head + tail)
    return path


def test_shipped_off_in_both_config_files_with_the_issues_keys() -> None:
    for path in (ROOT / "config.toml", ROOT / "bot" / "config" / "default.toml"):
        section = load_config(path, environ={}).payments.clickpesa
        assert not section.enabled and section.methods == ("ussd",)
        assert section.base_url == "https://api.clickpesa.com/third-parties"
    assert GATEWAYS["clickpesa"].rate_limit == 120
    assert GATEWAYS["clickpesa"].takes("ussd", "TZS")
    assert not GATEWAYS["clickpesa"].takes("ussd", "IDR")


def test_on_it_reads_its_secrets_from_the_environment_and_the_checksum_key_may_be_unset(
    tmp_path: Path,
) -> None:
    section = load_config(turned_on(tmp_path), environ=ENV).payments.clickpesa
    assert (section.client_id, section.api_key, section.checksum_key) == (
        "IDmadeup0001",
        "SKmadeup",
        "",
    )


@pytest.mark.parametrize("key", ["client_id", "api_key"])
def test_on_with_an_empty_id_or_key_is_an_error_naming_it(tmp_path: Path, key: str) -> None:
    name = {"client_id": "CLICKPESA_CLIENT_ID", "api_key": "CLICKPESA_API_KEY"}[key]
    path = turned_on(tmp_path, f'{key} = "${{{name}}}"', f'{key} = "  "')
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV)
    assert caught.value.key == f"payments.clickpesa.{key}"


def test_on_with_a_secret_missing_from_the_environment_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(turned_on(tmp_path), environ={"CLICKPESA_CLIENT_ID": "IDmadeup0001"})
    assert caught.value.key == "payments.clickpesa.api_key"
    assert "CLICKPESA_API_KEY" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('methods = ["ussd"]', 'methods = ["va:bca"]', "payments.clickpesa.methods[0]"),
        ('timeout = "10s"', 'timeout = "0s"', "payments.clickpesa.timeout"),
        ('expiry = "10m"', 'expiry = "30s"', "payments.clickpesa.expiry"),
        ('base_url = "https://api', 'base_url = "ftp://api', "payments.clickpesa.base_url"),
    ],
)
def test_a_mistake_names_its_key(tmp_path: Path, old: str, new: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(turned_on(tmp_path, old, new), environ=ENV)
    assert caught.value.key == key


def test_on_in_a_shop_that_sells_in_rupiah_it_is_refused(tmp_path: Path) -> None:
    path = turned_on(tmp_path)
    path.write_text(path.read_text().replace('currency = "TZS"', 'currency = "IDR"', 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=ENV)
    assert caught.value.key == "payments.clickpesa.enabled"
    assert "TZS" in str(caught.value) and "IDR" in str(caught.value)
