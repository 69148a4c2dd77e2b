"""Serve the leaderboard on localhost and capture it with headless Chromium (tests, README images).

    python -m cxrbench.leaderboard.screenshot --results DIR --out docs/img/leaderboard.png [--page curve]

Chromium runs with no network beyond 127.0.0.1, no GPU, no sandbox (containers), a throwaway profile.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from cxrbench.leaderboard.serve import free_port, start, stop

CHROMIUM = "/usr/bin/chromium"


@contextlib.contextmanager
def serve(results: Path, *, cache_dir: Path | None = None, timeout: float = 60.0):
    """Run `streamlit run app.py` on a free localhost port; yields the base URL."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = start(results, "127.0.0.1", port, "--server.fileWatcherType", "none", cache_dir=cache_dir,
                 stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"streamlit did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        stop(proc)
        log.close()


#: what "the page rendered" means: a table (or the empty-store notice), or an exception box
READY_JS = """JSON.stringify({
  tables: document.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"]').length,
  charts: document.querySelectorAll('[data-testid="stVegaLiteChart"], .vega-embed').length,
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  exception_text: Array.from(document.querySelectorAll('[data-testid="stException"]')).map(e => e.innerText.slice(0, 400)),
  // per table of the main area: how many pixels it would scroll sideways (0: it fits)
  overflow: Array.from(document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"]')).map(t => {
    const s = t.querySelector('.dvn-scroller'); return s ? s.scrollWidth - s.clientWidth : 0; }),
  empty: document.body.innerText.includes('No published records'),
  running: !!document.querySelector('[data-testid="stStatusWidget"]')
})"""


def chromium(url: str, *, screenshot: Path | None = None, size=(1400, 1000), timeout: float = 60.0,
             settle: float = 2.0, chromium_path: str = CHROMIUM) -> tuple[str, dict]:
    """Load `url` in headless Chromium, wait until Streamlit has rendered a table or an exception, then
    return (DOM, readiness counts) and optionally save a PNG screenshot of the viewport.

    Chromium's own --dump-dom/--screenshot fire at the load event, before Streamlit's websocket has
    delivered the page, so this drives the browser over the DevTools protocol (localhost only).
    """
    import base64
    import json

    from websockets.sync.client import connect

    # Chromium's helper processes can outlive the main one for a moment and still write to the profile.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        args = [chromium_path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars",
                f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + timeout
            while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"chromium did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.1)
            port = int(port_file.read_text().split()[0])
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                page = next(t for t in json.loads(r.read()) if t["type"] == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as ws:
                ids = iter(range(1, 10**6))

                def call(method, **params):
                    i = next(ids)
                    ws.send(json.dumps({"id": i, "method": method, "params": params}))
                    while True:
                        msg = json.loads(ws.recv(timeout=timeout))
                        if msg.get("id") == i:
                            if "error" in msg:
                                raise RuntimeError(f"{method}: {msg['error']}")
                            return msg.get("result", {})

                call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                     mobile=False)
                def probe() -> dict:
                    res = call("Runtime.evaluate", expression=READY_JS, returnByValue=True).get("result", {})
                    return json.loads(res["value"]) if "value" in res else {}  # no document yet

                call("Page.navigate", url=url)
                state: dict = {}
                while time.monotonic() < deadline:
                    state = probe()
                    if state and (state["tables"] or state["exceptions"] or state["empty"]) and not state["running"]:
                        break
                    time.sleep(0.25)
                time.sleep(settle)  # let charts finish drawing
                state = probe()
                dom = call("Runtime.evaluate", expression="document.documentElement.outerHTML",
                           returnByValue=True)["result"]["value"]
                if screenshot:
                    png = call("Page.captureScreenshot", format="png")["data"]
                    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                    Path(screenshot).write_bytes(base64.b64decode(png))
            return dom, state
        finally:
            stop(proc)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--page", default=None, help="overview, curve, delta, synthetic, cross-source, labels, ...")
    ap.add_argument("--size", default="1400x1000")
    args = ap.parse_args(argv)
    if not shutil.which(CHROMIUM):
        sys.exit(f"{CHROMIUM} not found (Debian: apt-get install -y chromium)")
    w, h = map(int, args.size.split("x"))
    with tempfile.TemporaryDirectory() as cache, serve(args.results, cache_dir=Path(cache)) as url:
        chromium(url + (f"/?page={args.page}" if args.page else ""), screenshot=args.out, size=(w, h))
    print(args.out)


if __name__ == "__main__":
    main()
