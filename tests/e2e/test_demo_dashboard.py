"""The link ``chargegrid demo`` prints opens the dashboard, signed in, with both demo sites
and their stations coming online live (the agreement between the demo and the dashboard:
``/dashboard/#token=...`` on the API port)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROOT, PageErrors, screenshot, wait_for
from tests.services import free_port

pytestmark = pytest.mark.slow


def test_the_demos_link_opens_the_dashboard_signed_in(browser: Any, tmp_path: Path) -> None:
    api_port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chargegrid",
            "demo",
            "--speed",
            "60",
            "--port",
            str(free_port()),
            "--api-port",
            str(api_port),
            "--progress-s",
            "5",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        link = wait_for(
            lambda: (
                next(
                    (
                        m.group(0)
                        for line in lines
                        if (m := re.search(r"http://\S+/dashboard/#token=\S+", line))
                    ),
                    None,
                )
                or (proc.poll() is not None and pytest.fail("".join(lines)))
            ),
            timeout_s=120,
            what="the demo's dashboard link",
        )
        assert f":{api_port}/dashboard/#token=cgk_" in link
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            page = ctx.new_page()
            errors = PageErrors(page)
            page.goto(link)
            page.wait_for_selector("h1:text-is('Overview')")
            assert "token=" not in page.url
            cards = page.locator("section.card")
            wait_for(lambda: cards.count() == 2, timeout_s=30, what="both demo sites")
            online = page.locator("section.card dd[id$='-online']").first
            wait_for(
                lambda: not online.inner_text().startswith("0 of"),
                timeout_s=60,
                what="the demo's stations online",
            )
            screenshot(page, "demo-overview")
            errors.check()
        finally:
            ctx.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("the demo did not stop on Ctrl-C")
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
