"""A small server-side SVG chart builder for the staff dashboard: no script, no CDN.

Two shapes cover the dashboard: vertical bars per category (stacked when there are several
series: payments per day by status, revenue per day, errors per day) and horizontal bars per
label (conversion per gateway, median time to paid). Every chart is `role="img"` with a
`<title>`, has labelled axes, draws in colours that read on the dark theme through presentation
attributes (the CSP allows no inline style), and puts each value on its bar as a `<title>` and a
`data-value`, so a pointer shows it and tests can read it. The page also prints the same numbers
in a table for screen readers: the SVG is the picture, the table is the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 56
AXIS = "#a1a1a6"  # about --text-muted on --back2
GRID = "#3a3a3c"
TEXT = "#e5e5ea"
#: colours that read on the dark background, in the order series take them
PALETTE = ("#fe720b", "#7dd3fc", "#4cd964", "#ffd166", "#ff9b9b", "#c4a7ff", "#8e8e93")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]
    colour: str


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least `value` (and at least 1)."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if value <= step * factor:
                return step * factor
        step *= 10


def _steps(top: int) -> int:
    """Grid intervals that land on whole numbers: the axis counts things, so never "0, 0, 1"."""
    return top if top <= 5 else 5  # a nice top over 5 is 10, 20, 50 ...: a multiple of 5


def _text(x: float, y: float, body: str, anchor: str = "middle", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{TEXT}" font-size="12" '
        f'text-anchor="{anchor}"{extra}>{escape(body)}</text>'
    )


def _frame(
    title: str, body: list[str], x_label: str, y_label: str, chart_id: str, left: int = LEFT
) -> Markup:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="staff-chart" role="img" aria-labelledby="{chart_id}-title" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'data-chart="{chart_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<line x1="{left}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        f'stroke="{AXIS}"/>',
        f'<line x1="{left}" y1="{TOP}" x2="{left}" y2="{TOP + plot_h}" stroke="{AXIS}"/>',
        *body,
        _text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 6, x_label),
        _text(
            14,
            TOP + plot_h / 2,
            y_label,
            extra=f' transform="rotate(-90 14 {TOP + plot_h / 2:.1f})"',
        ),
        "</svg>",
    ]
    # every text and attribute value above went through escape(); numbers are formatted here
    return Markup("".join(parts))  # noqa: S704


def bars(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    chart_id: str,
    unit: str = "",
) -> Markup:
    """Vertical bars, one per category, the series stacked bottom-up in the order given."""
    totals = [sum(s.values[i] for s in series) for i in range(len(categories))]
    top = _nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(categories), 1)
    bar_w = max(slot * 0.7, 1.0)
    every = max(1, -(-len(categories) // 10))  # at most about ten labels on the x axis
    body: list[str] = []
    steps = _steps(top)
    for tick in range(steps + 1):
        value = top * tick // steps
        y = TOP + plot_h - plot_h * tick / steps
        body.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(_text(LEFT - 6, y + 4, f"{value:,}", anchor="end"))
    for i, category in enumerate(categories):
        x = LEFT + slot * i + (slot - bar_w) / 2
        base = TOP + plot_h
        for s in series:
            value = s.values[i]
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                f'fill="{s.colour}" data-series="{escape(s.name)}" '
                f'data-category="{escape(category)}" data-value="{value}">'
                f"<title>{escape(category)}, {escape(s.name)}: {value:,}{escape(unit)}</title>"
                "</rect>"
            )
        if i % every == 0:
            body.append(_text(x + bar_w / 2, TOP + plot_h + 16, category))
    body.append(_legend(series))
    return _frame(title, body, x_label, y_label, chart_id)


def _legend(series: Sequence[Series]) -> str:
    if len(series) < 2:
        return ""
    items, x = [], LEFT
    for s in series:
        items.append(f'<rect x="{x}" y="{HEIGHT - 34}" width="10" height="10" fill="{s.colour}"/>')
        items.append(_text(x + 14, HEIGHT - 25, s.name, anchor="start"))
        x += 24 + 7 * len(s.name)
    return "".join(items)


def hbars(
    title: str,
    rows: Sequence[tuple[str, int, str]],
    *,
    x_label: str,
    y_label: str,
    chart_id: str,
    top: int | None = None,
) -> Markup:
    """Horizontal bars: (label, value, the value as shown) per row, on a shared scale."""
    top = top or _nice_max(max((v for _, v, _ in rows), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT - 100, HEIGHT - TOP - BOTTOM
    slot = plot_h / max(len(rows), 1)
    bar_h = min(slot * 0.6, 28)
    left = LEFT + 100
    body = [
        _text(left, TOP + plot_h + 16, "0"),
        _text(left + plot_w, TOP + plot_h + 16, f"{top:,}"),
    ]
    for i, (label, value, shown) in enumerate(rows):
        y = TOP + slot * i + (slot - bar_h) / 2
        width = plot_w * min(value, top) / top
        colour = PALETTE[i % len(PALETTE)]
        body.append(_text(left - 8, y + bar_h / 2 + 4, label, anchor="end"))
        body.append(
            f'<rect x="{left}" y="{y:.1f}" width="{width:.1f}" height="{bar_h:.1f}" '
            f'fill="{colour}" data-category="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {escape(shown)}</title></rect>"
        )
        body.append(_text(left + width + 6, y + bar_h / 2 + 4, shown, anchor="start"))
    return _frame(title, body, x_label, y_label, chart_id, left=left)
