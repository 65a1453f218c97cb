"""The shop's catalog as read from config.toml or a TOML/CSV file, checked line by line.

The database holds the live catalog (stock moves there); these specs are what an operator
writes, so every mistake names the line and field.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bot.config.reader import ConfigError

NAME_LANGS: Final = ("id", "en", "sw")


@dataclass(frozen=True)
class Category:
    id: str
    names: Mapping[str, str]


@dataclass(frozen=True)
class ProductSpec:
    sku: str
    category: str
    names: Mapping[str, str]
    price: int  # minor units of the shop's currency
    stock: int | None = None  # None: not counted
    descriptions: Mapping[str, str] = field(default_factory=dict)
    photo: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Catalog:
    categories: tuple[Category, ...]
    products: tuple[ProductSpec, ...]


def load_catalog_file(path: Path, currency: str) -> Catalog:
    """A catalog from a .toml file (like config.toml's [catalog]) or a .csv file."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(where, f"cannot read: {exc.strerror}") from None
    if path.suffix.lower() == ".csv":
        return parse_catalog({"products": _csv_rows(text, where)}, currency, where)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(where, f"not valid TOML: {exc}") from None
    return parse_catalog(raw.get("catalog", raw), currency, where)


def _csv_rows(text: str, where: str) -> list[dict[str, Any]]:
    """CSV columns: sku, category, name_id, name_en, name_sw, description_*, price, stock..."""
    rows = []
    for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
        item: dict[str, Any] = {"sku": clean.get("sku", ""), "category": clean.get("category")}
        item["name"] = {
            lang: clean[f"name_{lang}"] for lang in NAME_LANGS if clean.get(f"name_{lang}")
        }
        item["description"] = {
            lang: clean[f"description_{lang}"]
            for lang in NAME_LANGS
            if clean.get(f"description_{lang}")
        }
        item["price"] = _csv_int(clean.get("price", ""), f"{where}:{number}: price")
        if clean.get("stock"):
            item["stock"] = _csv_int(clean["stock"], f"{where}:{number}: stock")
        if clean.get("photo"):
            item["photo"] = clean["photo"]
        if clean.get("active"):
            item["active"] = clean["active"].lower() in ("1", "true", "yes", "y")
        rows.append(item)
    return rows


def _csv_int(text: str, key: str) -> int:
    if not (text.isascii() and text.lstrip("-").isdigit()):
        raise ConfigError(key, f"expected a whole number, got {text!r}")
    return int(text)


def parse_catalog(raw: Mapping[str, Any], currency: str, where: str) -> Catalog:
    categories = tuple(
        _category(c, f"{where}.categories[{i}]") for i, c in enumerate(raw.get("categories", ()))
    )
    known = {c.id for c in categories}
    products = tuple(
        _product(p, f"{where}.products[{i}]", known) for i, p in enumerate(raw.get("products", ()))
    )
    seen: set[str] = set()
    for i, product in enumerate(products):
        if product.sku in seen:
            raise ConfigError(f"{where}.products[{i}].sku", f"duplicate sku {product.sku!r}")
        seen.add(product.sku)
    return Catalog(categories, products)


def _category(raw: Mapping[str, Any], key: str) -> Category:
    _only(raw, {"id", "name"}, key)
    return Category(id=_text(raw, "id", key), names=_names(raw.get("name"), f"{key}.name"))


_PRODUCT_KEYS: Final = {
    "sku",
    "category",
    "name",
    "description",
    "price",
    "stock",
    "photo",
    "active",
}


def _product(raw: Mapping[str, Any], key: str, categories: set[str]) -> ProductSpec:
    _only(raw, _PRODUCT_KEYS, key)
    category = str(raw.get("category") or "other")
    if categories and category not in categories:
        raise ConfigError(f"{key}.category", f"unknown category {category!r}")
    price = raw.get("price")
    if not isinstance(price, int) or isinstance(price, bool) or price <= 0:
        raise ConfigError(f"{key}.price", f"expected a positive whole number, got {price!r}")
    stock = raw.get("stock")
    if stock is not None and (not isinstance(stock, int) or isinstance(stock, bool) or stock < 0):
        raise ConfigError(f"{key}.stock", f"expected a whole number >= 0, got {stock!r}")
    return ProductSpec(
        sku=_text(raw, "sku", key),
        category=category,
        names=_names(raw.get("name"), f"{key}.name"),
        descriptions=_names(raw.get("description") or {}, f"{key}.description", required=False),
        price=price,
        stock=stock,
        photo=raw.get("photo") or None,
        active=bool(raw.get("active", True)),
    )


def _only(raw: Mapping[str, Any], allowed: set[str], key: str) -> None:
    if not isinstance(raw, Mapping):
        raise ConfigError(key, "expected a table")
    for name in raw:
        if name not in allowed:
            raise ConfigError(
                f"{key}.{name}", f"unknown key (known: {', '.join(sorted(allowed))})"
            )


def _text(raw: Mapping[str, Any], name: str, key: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}.{name}", "missing or empty")
    return value.strip()


def _names(value: Any, key: str, required: bool = True) -> dict[str, str]:
    """`"Kopi"` for every language, or `{ id = "Kopi", en = "Coffee" }`."""
    if isinstance(value, str) and value.strip():
        return {lang: value.strip() for lang in NAME_LANGS}
    if isinstance(value, Mapping) and (value or not required):
        for lang, text in value.items():
            if lang not in NAME_LANGS or not isinstance(text, str):
                raise ConfigError(f"{key}.{lang}", f"expected text in one of {NAME_LANGS}")
        return {k: v.strip() for k, v in value.items()}
    raise ConfigError(key, "expected a name, or a table of names by language")
