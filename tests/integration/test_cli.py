"""The command line against real databases: db upgrade and catalog import."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, ROOT
from tests.unit.test_config import cli

SHIPPED = (ROOT / "config.toml").read_text()


def config_for(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(SHIPPED.replace("sqlite+aiosqlite:///checkout.db", url))
    return path


def test_db_upgrade_builds_a_fresh_sqlite_database(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
    done = cli("--config", str(config), "db", "upgrade", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fresh.db").stat().st_size > 0


@pytest.mark.skipif(not PG_URL, reason="CHECKOUT_TEST_DATABASE_URL is not set")
def test_db_upgrade_builds_a_fresh_postgresql_database(tmp_path: Path) -> None:
    name = f"cli_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f"CREATE DATABASE {name}"))
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        done = cli("--config", str(config_for(tmp_path, url)), "db", "upgrade", cwd=tmp_path)
        assert done.returncode == 0, done.stderr

        async def tables() -> set[str]:
            conn = await asyncpg.connect(
                make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            )
            try:
                rows = await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname='public'"
                )
            finally:
                await conn.close()
            return {r["tablename"] for r in rows}

        assert {"orders", "payments", "outbox", "payment_events"} <= asyncio.run(tables())
    finally:
        asyncio.run(sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_catalog_import_upserts_by_sku_and_reports_what_changed(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/shop.db")
    csv = tmp_path / "products.csv"
    csv.write_text(
        "sku,category,name_id,name_en,price,stock\n"
        "KOPI-SUSU,coffee,Kopi Susu,Milk Coffee,27000,100\n"
        "ES-TEH,coffee,Es Teh,Iced Tea,8000,200\n"
    )
    first = cli("--config", str(config), "catalog", "import", str(csv), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 created" in first.stdout
    csv.write_text(csv.read_text().replace("27000", "28000"))
    second = cli("--config", str(config), "catalog", "import", str(csv), cwd=tmp_path)
    assert "updated KOPI-SUSU: price" in second.stdout
    assert "0 created, 1 updated, 1 unchanged" in second.stdout


def test_a_bad_catalog_file_names_the_line_and_field(tmp_path: Path) -> None:
    config = config_for(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/shop.db")
    csv = tmp_path / "bad.csv"
    csv.write_text("sku,name_en,price\nA,Apple,12.5\n")
    done = cli("--config", str(config), "catalog", "import", str(csv), cwd=tmp_path)
    assert done.returncode == 2
    assert "bad.csv:2: price" in done.stderr and "Traceback" not in done.stderr
