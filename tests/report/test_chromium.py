"""The report in a real browser: headless Chromium renders it with no console error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.cdp import Chromium, find_chromium

pytestmark = pytest.mark.slow

CHECK = """
(() => {
  const imgs = Array.from(document.images).map(im => {
    const r = im.getBoundingClientRect();
    return {complete: im.complete, w: im.naturalWidth, h: im.naturalHeight,
            rw: r.width, rh: r.height};
  });
  return {title: document.title, imgs: imgs,
          tables: document.querySelectorAll('table').length,
          sections: Array.from(document.querySelectorAll('section[id]')).map(s => s.id),
          width: document.documentElement.scrollWidth};
})()
"""


def test_report_renders_in_headless_chromium(gather_report: tuple[Path, Path]) -> None:
    exe = find_chromium()
    if exe is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium package)")
    pytest.importorskip("websocket", reason="websocket-client (test extra) is needed for CDP")
    path, _ = gather_report
    with Chromium(exe) as browser:
        page = browser.open(path.resolve().as_uri(), CHECK)
    assert page.errors == []
    info = page.evaluated
    assert info["title"] == "mcstudy report: tiny-gather"
    assert len(info["imgs"]) >= 7
    for im in info["imgs"]:
        assert im["complete"] and im["w"] > 0 and im["h"] > 0, im
        assert im["rw"] > 0 and im["rh"] > 0, im
    assert info["tables"] > 5
    assert {"summary", "headline", "provenance"} <= set(info["sections"])


def test_a_console_error_would_be_caught(tmp_path: Path) -> None:
    # the check itself can fail: a page with a script error is reported
    exe = find_chromium()
    if exe is None:
        pytest.skip("no chromium on PATH (.ci/run installs Debian's chromium package)")
    pytest.importorskip("websocket", reason="websocket-client (test extra) is needed for CDP")
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
        "<title>x</title></head><body><img src='missing.png'>"
        "<script>console.error('boom')</script></body></html>"
    )
    with Chromium(exe) as browser:
        page = browser.open(bad.resolve().as_uri())
    assert any("boom" in e for e in page.errors)
    assert any("missing.png" in e or "load failed" in e for e in page.errors)
