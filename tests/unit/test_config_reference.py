"""docs/configuration.md is what bot/config/reference.py makes of the config dataclasses: a
key added, removed or given another default without regenerating the page fails here."""

from __future__ import annotations

import dataclasses

from bot.config.reference import render, sections
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "configuration.md"


def test_the_configuration_reference_is_up_to_date() -> None:
    assert PAGE.read_text() == render(), (
        "docs/configuration.md is stale: python -m bot.config.reference > docs/configuration.md"
    )


def test_every_key_of_every_section_is_in_the_reference_with_its_default() -> None:
    page = render()
    for name, cls in sections():
        assert f"## [{name}]\n" in page
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` | `" in page, f"{name}.{f.name}"
    assert "| `pool_size` | `5` | *integer; 1 to 1000*. Connections per instance |" in page
    assert '| `order_expiry` | `"24h"` | *duration*.' in page
