"""Server-side SVG bar charts (no script, no library): a value in 0-100 per label."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH, BAR, GAP, LEFT = 640, 22, 8, 160


def bars(title: str, rows: Sequence[tuple[str, float | None]], target: float | None = None) -> str:
    if not rows:
        rows = [("no responses", None)]
    height = 40 + len(rows) * (BAR + GAP)
    scale = (WIDTH - LEFT - 100) / 100.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}"><title>{escape(title)}</title>',
        f'<text x="8" y="20" font-weight="600" font-size="14">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(rows):
        y = 32 + i * (BAR + GAP)
        parts.append(f'<text x="8" y="{y + 15}" font-size="12">{escape(label)}</text>')
        if value is None:
            parts.append(f'<text x="{LEFT}" y="{y + 15}" font-size="12" fill="#667">no data</text>')
            continue
        w = max(value, 0.0) * scale
        colour = "#2e7d32" if target is None or value >= target else "#c62828"
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{w:.1f}" height="{BAR}" fill="{colour}"/>')
        parts.append(
            f'<text x="{LEFT + w + 4:.1f}" y="{y + 15}" font-size="12">{value:.1f} %</text>'
        )
    if target is not None:
        x = LEFT + target * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="{height - 4}" stroke="#333" '
            f'stroke-dasharray="4 3"/><text x="{x + 3:.1f}" y="26" font-size="11">'
            f"target {target:g} %</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
