"""Browser tests: real headless Chromium (Debian's ``chromium``) driven by Playwright, against
the system of :mod:`tests.e2e.stack` running in its own process.

Screenshots of every page go to ``tests/e2e/results/`` (git-ignored); with
``CHARGEGRID_DOCS_SCREENSHOTS=DIR`` they are also written to ``DIR`` (``docs/images`` for the
documentation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.services import unavailable
from tests.waiting import wait_until_sync

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
AXE = Path(__file__).resolve().parent / "assets" / "axe.min.js"
CHROMIUM = os.environ.get("CHARGEGRID_CHROMIUM", "/usr/bin/chromium")
#: how Chromium is started (Playwright adds --headless and a fresh --user-data-dir)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: stack start-up bound (wall seconds; both cores are busy in CI)
STACK_START_S = 120.0


@dataclass
class Stack:
    """The running system: URLs, tokens and station ids (see tests/e2e/stack.py)."""

    url: str
    dashboard: str
    ocpp_url: str
    tokens: dict[str, str]
    stations: list[str]
    followed: str
    idle: str
    late: str
    app_token: str
    speed: float
    process: subprocess.Popen[bytes]

    def api(self, role: str) -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30.0,
        )


def wait_for(
    condition: Callable[[], Any], *, timeout_s: float, what: str, every_s: float = 0.2
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``
    (:func:`tests.waiting.wait_until_sync` with the browser tests' pace)."""
    return wait_until_sync(condition, timeout_s, what, every_s=every_s)


# Module scope: the browser and the stack stop with the browser tests. Playwright's sync API
# keeps an event loop running on the main thread while it is open, which the asyncio tests
# that follow could not run beside.
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("stack") / "state.json"
    log = state.with_name("stack.log")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.stack", "--state", str(state), "--stations", "10"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def started() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"the stack exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            return state.exists()

        try:
            wait_for(started, timeout_s=STACK_START_S, what="the stack to start")
        except AssertionError:
            pytest.fail(f"the stack did not start:\n{log.read_text()[-3000:]}")
        data = json.loads(state.read_text())
        yield Stack(
            url=data["url"],
            dashboard=data["dashboard"],
            ocpp_url=data["ocpp_url"],
            tokens=data["tokens"],
            stations=data["stations"],
            followed=data["followed"],
            idle=data["idle"],
            late=data["late"],
            app_token=data["app_token"],
            speed=data["speed"],
            process=proc,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("the stack did not stop on SIGTERM")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"no Chromium at {CHROMIUM} (scripts/test installs Debian's chromium as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        yield ctx
    finally:
        ctx.close()


class PageErrors:
    """Script errors and failed requests of a page: a test ends with none."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"script error: {e}"))
        page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )

    def check(self) -> None:
        assert not self.errors, "\n".join(self.errors)


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    pg = context.new_page()
    errors = PageErrors(pg)
    yield pg
    errors.check()


def sign_in(page: Any, stack: Stack, role: str, route: str = "#/") -> None:
    """Sign in with the link the demo prints (token in the fragment), then open ``route``."""
    page.goto(f"{stack.dashboard}#token={stack.tokens[role]}")
    page.wait_for_selector("h1:text-is('Overview')")
    assert "token" not in page.url, "the token stays out of the address bar"
    if route != "#/":
        page.evaluate("route => { window.location.hash = route; }", route)


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page as ``results/NAME.png`` (and in the docs folder when asked)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    docs = os.environ.get("CHARGEGRID_DOCS_SCREENSHOTS")
    if docs:
        target = Path(docs)
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / f"dashboard-{name}.png")
    return path


class StationThread:
    """A simulated station run by the test (on its own event loop, in a thread)."""

    def __init__(self, runner: Any) -> None:
        self._runner = runner
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._runner.run())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        left = asyncio.all_tasks(self._loop)
        for task in left:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
        self._loop.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        def cancel() -> None:
            if self._task is not None:
                self._task.cancel()

        self._loop.call_soon_threadsafe(cancel)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the simulated station did not stop"
