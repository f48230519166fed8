"""A server-rendered SVG chart of sync runs over time (no JavaScript, no CDN): run duration
as bars and items per run as a line, with a data table beside it for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from fieldsync.mailboxes.selectors import Attempt

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 48, 34, 36


def _nice_max(value: float) -> float:
    """The smallest 1-2-5 step at or above value, so axis labels are round numbers."""
    if value <= 0:
        return 1.0
    scale = 1.0
    while scale * 10 < value:
        scale *= 10
    while scale > value:
        scale /= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.3g}"


def runs_chart(attempts: Sequence[Attempt]) -> SafeString:
    """Bars: seconds per run (left axis); line: items changed per run (right axis)."""
    if not attempts:
        return mark_safe("")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    max_d = _nice_max(max(a.duration for a in attempts))
    max_n = _nice_max(max(a.changes for a in attempts))
    slot = plot_w / len(attempts)
    bar_w = max(min(slot * 0.6, 24), 1)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="chart-title">Sync runs over time</title>',
        f'<desc id="chart-desc">{len(attempts)} runs, oldest to newest: bars show how long '
        "each took (left axis, seconds), the line how many items it changed (right axis).</desc>",
    ]
    for i in range(5):  # grid and both axes' labels
        y = TOP + plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(max_d * (4 - i) / 4)}</text>"
            f'<text class="axis items" x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}">'
            f"{_fmt(max_n * (4 - i) / 4)}</text>"
        )
    parts.append(
        f'<text class="axis" x="{LEFT - 6}" y="{TOP - 14}" text-anchor="end">s</text>'
        f'<text class="axis items" x="{WIDTH - RIGHT + 6}" y="{TOP - 14}">items</text>'
    )
    points = []
    for i, a in enumerate(attempts):
        cx = LEFT + slot * (i + 0.5)
        h = plot_h * a.duration / max_d
        label = escape(
            f"{a.started_at:%Y-%m-%d %H:%M:%S} {a.mailbox}: {a.duration:.1f} s, "
            f"{a.changes} changed, {a.items} seen" + (f", {a.failed} failed" if a.failed else "")
        )
        cls = "bar failed" if a.failed else "bar"
        parts.append(
            f'<rect class="{cls}" x="{cx - bar_w / 2:.1f}" y="{TOP + plot_h - h:.1f}" '
            f'width="{bar_w:.1f}" height="{max(h, 0.5):.1f}"><title>{label}</title></rect>'
        )
        points.append(f"{cx:.1f},{TOP + plot_h - plot_h * a.changes / max_n:.1f}")
    parts.append(f'<polyline class="items" fill="none" points="{" ".join(points)}"/>')
    for i, pt in enumerate(points):
        x, y = pt.split(",")
        parts.append(f'<circle class="items" cx="{x}" cy="{y}" r="2.5" data-i="{i}"/>')
    first, last = attempts[0].started_at, attempts[-1].started_at
    parts.append(
        f'<text class="axis" x="{LEFT}" y="{HEIGHT - 8}">{first:%m-%d %H:%M}</text>'
        f'<text class="axis" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end">'
        f"{last:%m-%d %H:%M}</text></svg>"
    )
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped
