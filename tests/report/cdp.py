"""A small Chrome DevTools Protocol client for the headless-Chromium report test.

Starts the system's Chromium headless with a fresh profile and no network services,
opens one page and records console errors, uncaught exceptions and failed loads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
)


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    errors: list[str] = field(default_factory=list)
    evaluated: Any = None
    screenshot: bytes | None = None


class Chromium:
    """``with Chromium(path) as c: c.open(url, expression)``."""

    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.executable = executable
        self.timeout = timeout
        self._ws: Any = None
        self._id = 0

    def __enter__(self) -> Chromium:
        self._profile = tempfile.mkdtemp(prefix="mcstudy-chromium-")
        self._proc = subprocess.Popen(
            [self.executable, *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while True:
            if port_file.exists():
                parts = port_file.read_text().split()
                if len(parts) >= 2:
                    break
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(parts[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t.get("type") == "page")
        import websocket

        self._ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=self.timeout, suppress_origin=True
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ws is not None:
            self._ws.close()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def _send(self, method: str, **params: Any) -> int:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        return self._id

    def _recv(self) -> dict[str, Any]:
        return json.loads(self._ws.recv())

    def _call(self, method: str, events: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
        want = self._send(method, **params)
        while True:
            msg = self._recv()
            if msg.get("id") == want:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            events.append(msg)

    def open(self, url: str, expression: str | None = None, screenshot: bool = False) -> PageResult:
        """Load ``url``; collect errors; evaluate ``expression`` after the load event."""
        events: list[dict[str, Any]] = []
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            self._call(domain, events)
        self._call("Page.navigate", events, url=url)
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not finish loading")
            events.append(self._recv())
        result = PageResult()
        if expression is not None:
            out = self._call("Runtime.evaluate", events, expression=expression, returnByValue=True)
            if "exceptionDetails" in out:
                raise RuntimeError(f"evaluation failed: {out['exceptionDetails']}")
            result.evaluated = out["result"].get("value")
        if screenshot:
            import base64

            shot = self._call(
                "Page.captureScreenshot", events, format="png", captureBeyondViewport=True
            )
            result.screenshot = base64.b64decode(shot["data"])
        for e in events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                result.errors.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                result.errors.append(f"exception: {p.get('exceptionDetails')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                result.errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif m == "Network.loadingFailed":
                result.errors.append(f"load failed: {p.get('errorText')}")
        return result
