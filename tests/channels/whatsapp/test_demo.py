"""`checkout-bot demo --channel whatsapp`: the same scripted checkout, each reply shown as
the WhatsApp messages it becomes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.channels.whatsapp.preview import preview
from bot.conversation.replies import Choice, Image, LinkButton, Reply


def test_the_demo_shows_the_checkout_as_whatsapp_messages(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "--auto",
            "--channel",
            "whatsapp",
            "--language",
            "en",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[whatsapp list, button 'Choose']" in done.stdout
    assert "[whatsapp reply buttons]" in done.stdout
    assert "Payment received: order" in done.stdout


def test_a_preview_numbers_the_choices_like_the_console() -> None:
    qr = Image(data=b"\x89PNG", qr_payload="0002")
    reply = Reply("Scan", (Choice("chk:1", "Check status"), Choice("cxl:A", "Cancel")), image=qr)
    assert (
        preview(reply)
        == "[whatsapp reply buttons with image]\nScan\n  [1] Check status\n  [2] Cancel"
    )
    link = preview(Reply("Pay", link=LinkButton("Pay now", "https://p.example/1")))
    assert link == "[whatsapp link button]\nPay\n  -> Pay now: https://p.example/1"
