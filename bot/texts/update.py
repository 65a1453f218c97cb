"""Keeps the .po catalogs in step with the code: `python -m bot.texts.update`.

Finds every `t("...")` and `N_("...")` in the modules that talk to people, adds new messages
to each language's catalog (English gets the message itself, the others an empty
translation to fill in), drops messages the code no longer uses, and keeps every translation
already made. tests/unit/test_flow_texts.py fails while a translation is missing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from bot.texts import LANGUAGES, po_path

BOT: Final = Path(__file__).resolve().parent.parent
# The modules whose strings customers and merchants read. A module that calls `t("...")`
# must be listed here, or its messages are never extracted and a run drops them again.
SOURCES: Final = (
    "conversation/*.py",
    "dispatch/*.py",
    "methods.py",
    "notify/notices.py",
    "channels/**/*.py",
    "merchant/*.py",
    "demo.py",
)
KEYWORDS: Final = {"t": None, "N_": None}


def source_files() -> list[Path]:
    return sorted({path for pattern in SOURCES for path in BOT.glob(pattern)})


def extract_messages() -> dict[str, list[tuple[str, int]]]:
    """msgid -> where it is used (file relative to bot/, line)."""
    found: dict[str, list[tuple[str, int]]] = {}
    for path in source_files():
        for line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            if isinstance(message, str):
                found.setdefault(message, []).append((str(path.relative_to(BOT)), line))
    return found


def read_catalog(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, project="checkout-bot")
    with path.open("rb") as file:
        return read_po(file, locale=language)


def merged(language: str, messages: dict[str, list[tuple[str, int]]]) -> Catalog:
    """Messages in the order the code uses them, without line numbers: diffs stay small."""
    old = read_catalog(language)
    new = Catalog(
        locale=language,
        project="checkout-bot",
        fuzzy=False,
        creation_date=old.creation_date,
        revision_date=old.revision_date,
    )
    for msgid, where in sorted(messages.items(), key=lambda item: item[1][0]):
        kept = old.get(msgid)
        text = kept.string if kept is not None and kept.string else ""
        if language == "en" and not text:
            text = msgid
        new.add(msgid, text, auto_comments=[where[0][0]], flags=("python-brace-format",))
    return new


def write_catalog(language: str, catalog: Catalog) -> None:
    path = po_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, width=99, omit_header=False, sort_output=False)


def missing(catalog: Catalog) -> Iterator[str]:
    for message in catalog:
        if message.id and not message.string:
            yield str(message.id)


def main() -> int:
    messages = extract_messages()
    todo = 0
    for language in LANGUAGES:
        catalog = merged(language, messages)
        write_catalog(language, catalog)
        gaps = list(missing(catalog))
        todo += len(gaps)
        print(f"{po_path(language)}: {len(catalog)} messages, {len(gaps)} to translate")
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main())
