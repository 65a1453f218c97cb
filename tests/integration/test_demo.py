"""`checkout-bot demo` as a newcomer runs it: a subprocess, the sandbox, a throwaway database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SHIPPED = (ROOT / "config.toml").read_text()


def demo(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=180,
        check=False,
    )


def test_demo_auto_plays_a_whole_checkout_to_the_confirmation(tmp_path: Path) -> None:
    """No config.toml in the working directory: the packaged defaults are used."""
    done = demo("demo", "--auto", "--language", "en", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Payment received: order" in done.stdout
    assert "── to the merchant ──" in done.stdout and "New paid order" in done.stdout
    assert "demo finished: payment confirmed" in done.stdout
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_demo_reads_piped_input_and_the_sandbox_pays_by_itself(tmp_path: Path) -> None:
    config = tmp_path / "shop.toml"
    config.write_text(SHIPPED.replace('auto_pay_after = "5s"', 'auto_pay_after = "1s"'))
    script = "\n".join(
        [
            "1",  # Catalog
            "2",  # Makanan
            "1",  # + Roti Bakar
            "1",  # Checkout
            "Budi",
            "0812 3456 7890",
            "1",  # Pick up
            "tanpa gula",  # a note at the summary
            "2",  # QRIS
        ]
    )
    done = demo("--config", str(config), "demo", "--language", "id", cwd=tmp_path, stdin=script)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "> Budi" in done.stdout and "Catatan: tanpa gula" in done.stdout
    assert "Scan kode QRIS" in done.stdout and "█" in done.stdout  # the QR, drawn
    assert "Pembayaran diterima: pesanan" in done.stdout


def test_demo_without_any_input_just_greets(tmp_path: Path) -> None:
    done = demo("demo", cwd=tmp_path, stdin="")
    assert done.returncode == 0, done.stderr
    assert "Selamat datang di Warung Kopi Nusantara" in done.stdout
