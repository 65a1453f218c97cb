"""[whatsapp] in config.toml: off as shipped; enabled, every key it needs is named when
missing; templates per notice kind; merchant numbers are digits."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, WhatsAppTemplate, load_config
from tests.conftest import ROOT

SHIPPED = (ROOT / "config.toml").read_text()
ON = ("[whatsapp]", 'enabled = false\nphone_number_id = ""')
ENV = {
    "WHATSAPP_ACCESS_TOKEN": "EAAG-token",
    "WHATSAPP_APP_SECRET": "app-secret",
    "WHATSAPP_VERIFY_TOKEN": "verify-token",
}


def enabled(number: str = "109876543210987", extra: str = "") -> str:
    head = SHIPPED.index("[whatsapp]")
    text = SHIPPED[:head] + SHIPPED[head:].replace("enabled = false", "enabled = true", 1)
    text = text.replace('phone_number_id = ""', f'phone_number_id = "{number}"', 1)
    return text.replace("merchant_numbers = []", f"merchant_numbers = []\n{extra}", 1)


def load(tmp_path: Path, text: str, environ: dict[str, str]) -> object:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_config(path, environ=environ)


def test_whatsapp_is_off_as_shipped_and_names_a_template_for_paid_notices() -> None:
    config = load_config(ROOT / "config.toml", environ={})
    assert config.whatsapp.enabled is False
    assert config.whatsapp.templates["payment_paid"] == WhatsAppTemplate("payment_confirmed", "id")


def test_enabled_with_every_key_it_loads(tmp_path: Path) -> None:
    config = load(tmp_path, enabled(), ENV)
    assert config.whatsapp.access_token == "EAAG-token"  # type: ignore[attr-defined]


@pytest.mark.parametrize("missing", sorted(ENV))
def test_enabled_without_a_secret_names_its_key(tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in ENV.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, enabled(), env)
    key = "whatsapp." + missing.removeprefix("WHATSAPP_").lower()
    assert caught.value.key == key


def test_enabled_without_a_phone_number_id_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, enabled(number=""), ENV)
    assert caught.value.key == "whatsapp.phone_number_id"


def test_an_empty_secret_in_the_environment_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, enabled(), {**ENV, "WHATSAPP_APP_SECRET": ""})
    assert caught.value.key == "whatsapp.app_secret"


PAID_TEMPLATE = 'payment_paid = { name = "payment_confirmed", language = "id" }\n'


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            "merchant_numbers = []",
            'merchant_numbers = ["+62 811"]',
            "whatsapp.merchant_numbers[0]",
        ),
        (
            PAID_TEMPLATE,
            '[whatsapp.templates.order_shipped]\nname = ""\n',
            "whatsapp.templates.order_shipped.name",
        ),
        (
            PAID_TEMPLATE,
            '[whatsapp.templates.order_shipped]\nlang = "id"\n',
            "whatsapp.templates.order_shipped.lang",
        ),
        (PAID_TEMPLATE, 'payment_paid = "payment_confirmed"\n', "whatsapp.templates.payment_paid"),
    ],
)
def test_a_mistake_in_the_section_names_its_key(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    text = enabled()
    assert old in text
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text.replace(old, new, 1), ENV)
    assert caught.value.key == key, str(caught.value)
