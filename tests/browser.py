"""Open an HTML file in headless Chromium over the DevTools protocol: console errors, image sizes,
a full-page screenshot. Used by the report's browser test; also runnable by hand:

    python -m tests.browser results/report/report.html results/report/report.png

Needs Debian's ``chromium`` (``.ci/browser/install.sh``) and ``websocket-client``. Chromium runs
with a fresh profile, no sandbox (CI runs as root), and every background network feature off.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import b64decode
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1400,1000",
         "--remote-debugging-port=0"]
IMAGES_JS = ("JSON.stringify(Array.from(document.images).map(i => ({alt: i.alt, "
             "complete: i.complete, width: i.naturalWidth})))")
# Layout as a reader at 1400 px sees it: elements that stick out of the viewport without a
# scrolling box around them, the page's own width, the section order, where the headline starts,
# and per figure what it plots and what its legend names (data-plotted / data-legend).
LAYOUT_JS = """JSON.stringify((() => {
 const vw = document.documentElement.clientWidth, out = [];
 function scrolls(el) { for (let p = el.parentElement; p; p = p.parentElement) {
   const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden')
   return true; } return false; }
 document.querySelectorAll('body *').forEach(el => { const r = el.getBoundingClientRect();
   if (r.width > 0 && r.right > vw + 1 && !scrolls(el))
     out.push(el.tagName + (el.id ? '#' + el.id : '') + ' right=' + Math.round(r.right)); });
 const head = document.getElementById('headline');
 return {overflow: out.slice(0, 20), viewport_width: vw, viewport_height: window.innerHeight,
  page_width: document.documentElement.scrollWidth,
  sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
  headline_top: head ? head.getBoundingClientRect().top + window.scrollY : -1,
  figures: Array.from(document.querySelectorAll('img[data-plotted]')).map(i => ({alt: i.alt,
   plotted: JSON.parse(i.dataset.plotted), legend: JSON.parse(i.dataset.legend)}))};
})())"""
# Click every sortable heading twice (ascending, descending): the inline script must not throw.
SORT_JS = ("(() => {let n = 0; document.querySelectorAll('table.sortable thead th')"
           ".forEach(th => {th.click(); th.click(); n++;}); return n;})()")


def missing() -> str | None:
    """Why the browser check cannot run here, or None."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        return f"{CHROMIUM} is absent (bash .ci/browser/install.sh installs Debian's chromium)"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "websocket-client is not installed (envs/requirements-test.txt)"
    return None


class DevTools:
    """A minimal DevTools-protocol session on one page target; events are kept in order."""

    def __init__(self, ws_url: str, timeout: float) -> None:
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=timeout, suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self.next_id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            if time.monotonic() > end:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and log entries of level error."""
        out = []
        for e in self.events:
            params = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif e.get("method") == "Runtime.consoleAPICalled" and params.get("type") == "error":
                out.append(json.dumps(params.get("args", []))[:500])
            elif e.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(params["entry"].get("text", "")[:500])
        return out


def _start(profile: Path, timeout: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([shutil.which("chromium") or CHROMIUM, *FLAGS,
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file, end = profile / "DevToolsActivePort", time.monotonic() + timeout
    while not port_file.exists() or not port_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            raise RuntimeError("chromium did not open its DevTools port")
        time.sleep(0.1)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
        page = next(t for t in json.load(r) if t["type"] == "page")
    return proc, page["webSocketDebuggerUrl"]


def check_page(html_path: Path, screenshot: Path, timeout: float = 60) -> dict[str, Any]:
    """Load ``html_path``; return its errors and images, write a full-page PNG screenshot."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        proc, ws_url = _start(Path(profile), timeout)
        try:
            tools = DevTools(ws_url, timeout)
            for domain in ("Page", "Runtime", "Log"):
                tools.call(f"{domain}.enable")
            tools.call("Page.navigate", url=Path(html_path).resolve().as_uri())
            tools.wait_for("Page.loadEventFired", timeout)
            images = json.loads(tools.call("Runtime.evaluate", expression=IMAGES_JS)
                                ["result"]["value"])
            layout = json.loads(tools.call("Runtime.evaluate", expression=LAYOUT_JS)
                                ["result"]["value"])  # before sorting moves anything
            n_sorted = tools.call("Runtime.evaluate", expression=SORT_JS)["result"]["value"]
            size = tools.call("Page.getLayoutMetrics")["cssContentSize"]
            shot = tools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                              clip={"x": 0, "y": 0, "width": size["width"],
                                    "height": size["height"], "scale": 1})
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(b64decode(shot["data"]))
            return {"errors": tools.errors(), "images": images, "sortable_headers": n_sorted,
                    "page_size": (size["width"], size["height"]), "layout": layout}
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    result = check_page(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps(result, indent=1))
    sys.exit(1 if result["errors"] or any(i["width"] == 0 for i in result["images"]) else 0)
