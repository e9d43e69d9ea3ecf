"""Small inline SVG charts for the HTML class report: no script, no external file.

Every label is escaped here; callers pass plain text.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

#: Colours of the report (also used by its stylesheet).
PASS, FAIL, ERROR, BAR, GRID = "#2e7d32", "#c62828", "#ef6c00", "#1565c0", "#d0d7de"
#: Most characters of a label beside a horizontal bar.
LABEL_CHARS = 30


def column_chart(
    labels: Sequence[str], values: Sequence[int], colors: Sequence[str], title: str
) -> str:
    """Vertical bars, one per label, with the count above each bar."""
    width, height, top, bottom = 520, 180, 18, 28
    slot = width / max(len(values), 1)
    tallest = max(values, default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{escape(title)}</title>',
        f'<line x1="0" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
        f'stroke="{GRID}"/>',
    ]
    for index, (label, value, color) in enumerate(zip(labels, values, colors, strict=True)):
        bar = (height - top - bottom) * value / tallest
        x = index * slot + slot * 0.15
        y = height - bottom - bar
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}" '
            f'fill="{color}"><title>{escape(label)}: {value}</title></rect>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{value}</text>'
        )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 16}" '
            f'text-anchor="middle" font-size="10">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def meter(fraction: float, color: str, width: int = 120) -> str:
    """A horizontal bar filled to ``fraction`` (0..1), e.g. a pass rate."""
    fraction = min(max(fraction, 0.0), 1.0)
    return (
        f'<svg class="meter" viewBox="0 0 {width} 12" width="{width}" height="12">'
        f'<rect width="{width}" height="12" rx="2" fill="{GRID}"/>'
        f'<rect width="{width * fraction:.1f}" height="12" rx="2" fill="{color}"/></svg>'
    )


def bar_chart(labels: Sequence[str], values: Sequence[float], unit: str, title: str) -> str:
    """Horizontal bars with their labels on the left and values on the right."""
    row, label_w, bar_w = 22, 220, 260
    height = row * len(values) + 4
    widest = max(values, default=0.0) or 1.0
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {label_w + bar_w + 70} {height}" '
        f'width="{label_w + bar_w + 70}" height="{height}"><title>{escape(title)}</title>'
    ]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = index * row + 2
        # a long name would run off the chart's left edge: cut it, keep it whole in a tooltip
        short = label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
            f"<title>{escape(label)}</title>{escape(short)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w * value / widest:.1f}" '
            f'height="{row - 8}" fill="{BAR}"/>'
        )
        parts.append(
            f'<text x="{label_w + bar_w * value / widest + 6:.1f}" y="{y + 14}" '
            f'font-size="12">{value:.1f} {escape(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
