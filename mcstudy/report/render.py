"""HTML rendering: a Jinja2 template, figures embedded as base64 PNG (no network needed)."""

from __future__ import annotations

import base64
import re
import struct
from typing import Any

import jinja2
from markupsafe import Markup, escape

from mcstudy.document.blocks import (
    Bullets,
    Code,
    FigureBlock,
    Paragraph,
    Report,
    TableBlock,
)
from mcstudy.report.figures import png_bytes

FIRST_ORDER = 10
"""Sections ordered below this (the answers) are shown before the summary box."""
_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> Markup:
    """Escape ``text`` and show `backticked` parts as code."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG from its IHDR chunk (pixels)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mcstudy.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["inline"] = inline
    return env


def _block(b: Any) -> dict[str, Any]:
    if isinstance(b, Paragraph):
        return {"type": "paragraph", "text": b.text}
    if isinstance(b, Bullets):
        return {"type": "bullets", "items": b.items}
    if isinstance(b, Code):
        return {"type": "code", "text": b.text, "caption": b.caption}
    if isinstance(b, FigureBlock):
        png = png_bytes(b.figure)
        w, h = png_size(png)
        return {
            "type": "figure",
            "key": b.key,
            "title": b.title,
            "caption": b.caption,
            "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "width": w,
            "height": h,
        }
    if isinstance(b, TableBlock):
        return {"type": "table", "t": b}
    raise TypeError(f"unknown report block {type(b).__name__}")


def render_html(report: Report) -> bytes:
    """The report as one self-contained HTML document (UTF-8)."""
    env = _environment()
    sections = [
        {
            "id": s.id,
            "title": s.title,
            "lead": s.lead,
            "blocks": [_block(b) for b in s.blocks],
        }
        for s in report.sections
    ]
    # the answers come before the summary box and the contents (answer first)
    n_first = sum(1 for s in report.sections if s.order < FIRST_ORDER)
    html = env.get_template("report.html.j2").render(
        title=report.title,
        subtitle=report.subtitle,
        trust=report.trust,
        problems=report.problems,
        first=sections[:n_first],
        sections=sections[n_first:],
    )
    return html.encode("utf-8")
