"""A customer's own site for the chat widget's browser tests: a page on its own origin
(a plain HTTP server on another port) with the widget's one script tag, and the steps a
visitor takes on it."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import _free_port
from playwright.async_api import Browser, BrowserContext, Page

SHOTS = Path("/tmp/shots")


@pytest.fixture
def site_port() -> int:
    return _free_port()


def site_origin(port: int) -> dict[str, Any]:
    """The setting that lets the site's pages chat."""
    return {"chat_allowed_origins": [f"http://127.0.0.1:{port}"]}


@pytest.fixture
def site(live_server: str, site_port: int, tmp_path: Path) -> Iterator[str]:
    """The customer's own site, on its own origin, with the widget's one script tag."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>'
        "<body><h1>The shop</h1><p>Everything for your garden.</p>"
        f'<script src="{live_server}/chat/widget.js" data-title="Chat with the shop" defer>'
        "</script></body></html>"
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", site_port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site_port}/index.html"
    server.shutdown()
    server.server_close()


async def visitor_on(browser: Browser, site: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    context.set_default_timeout(15_000)
    opened = await context.new_page()
    await opened.goto(site)
    await opened.get_by_role("button", name="Chat with the shop").click()
    return context, opened


async def start_chat(visitor: Page, name: str, text: str) -> None:
    form = visitor.get_by_role("form", name="Start a chat")
    await form.get_by_label("Your name").fill(name)
    await form.get_by_label("Your message").fill(text)
    await form.get_by_role("button", name="Start chat").click()
