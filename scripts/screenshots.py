"""Screenshots of the pages for docs/screenshots/, taken from a running demo.

    .venv/bin/python scripts/screenshots.py

Starts `callcenter demo` on free ports (its own data directory, wall clock), signs in as
its supervisor (the board) and its human agent (the softphone, once a call rings it) in
Debian's chromium, then shoots each page at 1280x800 and on a 390-pixel-wide phone
screen. Run it again whenever a page changes.
"""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.async_api import Page, async_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}
# (file name, path, the login that sees it)
PAGES = [("board", "/board", "supervisor"), ("softphone", "/agent", "you"),
         ("tickets", "/tickets?view=all_open", "you"), ("ticket", "/tickets/1", "you"),
         ("customer", "/customers/1", "you"), ("blocklist", "/blocklist", "supervisor"),
         ("time-report", "/reports/time", "supervisor"), ("webhooks", "/admin/webhooks", "admin")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _password(demo: asyncio.subprocess.Process) -> str:
    """The demo's password, from its banner."""
    assert demo.stdout is not None
    while True:
        line = (await demo.stdout.readline()).decode(errors="replace")
        if not line:
            sys.exit("the demo stopped before printing its logins")
        if found := re.search(r"password:\s+(\S+)", line):
            return found.group(1)


async def _drain(demo: asyncio.subprocess.Process) -> None:
    assert demo.stdout is not None
    while await demo.stdout.read(65536):
        pass


async def _ringing(page: Page) -> None:
    """The demo's human agent goes Available and waits for a call to ring them."""
    form = page.get_by_role("form", name="Your activity")
    await form.get_by_label("Activity").select_option("Available")
    await form.get_by_role("button", name="Set activity").click()
    await page.get_by_role("region", name="Incoming call").wait_for(timeout=60_000)
    await asyncio.sleep(1)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    drain: asyncio.Task[None] | None = None
    with tempfile.TemporaryDirectory(prefix="screenshots-") as data:
        demo = await asyncio.create_subprocess_exec(
            str(ROOT / ".venv" / "bin" / "callcenter"), "demo", "--port", str(port),
            "--emulator-port", str(_free_port()), "--data-dir", data, "--interval", "1",
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            password = await _password(demo)
            # Its story goes on printing: read it, or the full pipe would stall the demo.
            drain = asyncio.create_task(_drain(demo))
            base = f"http://127.0.0.1:{port}"
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
                )
                for name, path, role in PAGES:
                    for size, (width, height) in SIZES.items():
                        page = await browser.new_page(viewport={"width": width, "height": height})
                        await page.goto(f"{base}/login?next={path}")
                        await page.get_by_label("Email").fill(f"{role}@example.com")
                        await page.get_by_label("Password").fill(password)
                        await page.get_by_role("button", name="Sign in").click()
                        await page.get_by_role("heading", level=1).wait_for()
                        if name == "softphone":
                            await _ringing(page)
                        elif name in ("ticket", "customer", "tickets", "blocklist",
                                      "time-report", "webhooks"):
                            await asyncio.sleep(1)
                        else:
                            await asyncio.sleep(6)  # a few callers in line, agents on calls
                        shot = OUT / f"{name}-{size}.png"
                        await page.screenshot(path=str(shot), full_page=True)
                        print(shot.relative_to(ROOT))
                        await page.close()
                await browser.close()
        finally:
            demo.send_signal(signal.SIGINT)  # as Ctrl-C: the demo stops its parts in order
            try:
                await asyncio.wait_for(demo.wait(), 30)
            except TimeoutError:
                demo.kill()
                await demo.wait()
            if drain is not None:
                await drain


if __name__ == "__main__":
    asyncio.run(main())
