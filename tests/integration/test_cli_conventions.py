"""The command line behaves as operators expect of one: options before or after the command,
--version, a description, an example and the exit codes in every --help, read-only commands
that never migrate and print nothing but their answer. All through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.test_cli import config_for
from tests.unit.test_config import cli

COMMANDS = [
    ["check-config"],
    ["db"],
    ["catalog"],
    ["catalog", "import"],
    ["run"],
    ["sandbox"],
    ["reconcile"],
    ["demo"],
    ["orders"],
    ["orders", "list"],
    ["orders", "show"],
]
DATABASE_STACK = ("sqlalchemy", "alembic", "aiosqlite", "asyncpg", "telegram")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_explains_itself_with_an_example_and_the_exit_codes(
    command: list[str],
) -> None:
    done = cli(*command, "--help", cwd=ROOT)
    assert done.returncode == 0, done.stderr
    usage, description, *_ = done.stdout.split("\n\n")
    assert usage.startswith(f"usage: checkout-bot {' '.join(command)}")
    assert description[0].isupper() and description.endswith(".")
    example = done.stdout.split("example:\n", 1)[1].splitlines()[0]
    assert example.startswith(f"  checkout-bot {command[0]}")
    assert "exit codes:" in done.stdout and "  2    usage or configuration error" in done.stdout


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["orders", "list", "--help"]])
def test_help_does_not_import_the_database_stack(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert imported, "python -X importtime printed nothing"
    loaded = sorted(m for m in imported if m.split(".")[0] in DATABASE_STACK)
    assert loaded == []


def test_version_is_the_installed_package_version() -> None:
    from importlib.metadata import version

    done = cli("--version", cwd=ROOT)
    assert done.returncode == 0
    assert done.stdout.strip() == f"checkout-bot {version('checkout-bot')}"


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "{config}", "-v", "check-config"],
        ["check-config", "--config", "{config}"],
        ["check-config", "--config", "{config}", "-v"],
        ["-v", "check-config", "--config", "{config}"],
    ],
)
def test_config_and_verbose_go_before_or_after_the_command(
    tmp_path: Path, args: list[str]
) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/shop.db")
    done = cli(*(a.replace("{config}", str(config)) for a in args), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{config}: ok")


def test_reconcile_without_once_says_what_to_run_instead(tmp_path: Path) -> None:
    done = cli("reconcile", "--config", str(ROOT / "config.toml"), cwd=tmp_path)
    assert done.returncode == 2
    assert "--once" in done.stderr and "checkout-bot run" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_read_only_command_never_creates_nor_migrates_a_database(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/none.db")
    done = cli("orders", "list", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1
    assert "checkout-bot db upgrade" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "none.db").exists()


def test_orders_list_prints_its_answer_and_no_library_debug_lines(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/shop.db")
    assert cli("db", "upgrade", "--config", str(config), cwd=tmp_path).returncode == 0
    done = cli("orders", "list", "--config", str(config), cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "no orders\n", "")
    verbose = cli("orders", "list", "-v", "--config", str(config), cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    libraries = [line for line in verbose.stderr.splitlines() if " DEBUG " in line]
    assert not [line for line in libraries if not line.split(" DEBUG ")[1].startswith(OURS)]


def test_db_upgrade_prints_no_alembic_lines(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/shop.db")
    done = cli("db", "upgrade", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("database schema is up to date")


OURS = ("bot", "payments", "storage")
