"""Web layer: the measures trend chart, drawn on the server as an accessible SVG.

Every submission is a point (one line per instrument, told apart by colour, line style and
marker shape, so colour is never the only cue); medication starts, dose changes and stops are
dashed vertical marks on the same time line. The SVG has a title and a description, and the
page shows the same data as a table for screen readers. No script: the page's CSP holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from markupsafe import Markup, escape

from telehealth.measures.course import Course, mark_words
from telehealth.timefmt import format_date

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 44, 16, 16, 64
STYLES = [
    # (stroke colour, dash pattern, marker)
    ("#1d5fbf", "", "circle"),
    ("#8a3ab9", "6 4", "square"),
    ("#1f7a3a", "2 3", "diamond"),
]


def _marker(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>'
    if shape == "diamond":
        return (
            f'<path d="M{x:.1f} {y - 5:.1f} L{x + 5:.1f} {y:.1f} L{x:.1f} {y + 5:.1f} '
            f'L{x - 5:.1f} {y:.1f} Z" fill="{colour}"/>'
        )
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>'


def trend_svg(course: Course, zone_name: str, *, chart_id: str = "trend") -> Markup:
    """The chart of `course` (scores over time, medication changes marked), times in
    `zone_name`. Empty markup when there is nothing to draw."""
    if course.empty:
        return Markup("")
    times = [m.submitted_at for c in course.instruments for m in c.measures]
    times += [m.at for m in course.medication_marks]
    first, last = min(times), max(times)
    if last - first < timedelta(days=1):
        first, last = first - timedelta(hours=12), last + timedelta(hours=12)
    span = (last - first).total_seconds()
    top_score = max(c.instrument.max_score for c in course.instruments)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(when: datetime) -> float:
        return LEFT + (when - first).total_seconds() / span * plot_w

    def y_of(score: int) -> float:
        return TOP + plot_h - score / top_score * plot_h

    def day(when: datetime) -> str:
        return format_date(when, zone_name, short=True)

    names = " and ".join(c.instrument.name for c in course.instruments)
    title = f"{names} scores over time"
    desc_parts = []
    for c in course.instruments:
        desc_parts.append(
            f"{c.instrument.name}: "
            + ", ".join(f"{m.score} on {day(m.submitted_at)}" for m in c.measures)
        )
    for mark in course.medication_marks:
        desc_parts.append(f"{mark_words(mark)} on {day(mark.at)}")
    desc = ". ".join(desc_parts) + ". The same data is in the table below the chart."
    parts = [
        f'<svg class="trend-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" data-trend-chart '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    # Axes and score grid.
    for score in range(0, top_score + 1, 5 if top_score > 10 else 1):
        y = y_of(score)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            f'stroke="#d8dde5" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#5b6577">{score}</text>'
        )
    base_y = TOP + plot_h
    parts.append(
        f'<text x="{LEFT}" y="{base_y + 16}" font-size="11" fill="#5b6577">'
        f"{escape(day(first))}</text>"
        f'<text x="{WIDTH - RIGHT}" y="{base_y + 16}" font-size="11" fill="#5b6577" '
        f'text-anchor="end">{escape(day(last))}</text>'
    )
    # Medication changes: dashed marks with a short label.
    for i, mark in enumerate(course.medication_marks):
        x = x_of(mark.at)
        # Labels right of a mark in the chart's left half, left of it in the right half.
        right_half = x > LEFT + plot_w / 2
        label_x, anchor = (x - 3, "end") if right_half else (x + 3, "start")
        parts.append(
            f'<g data-med-mark data-at="{mark.at.isoformat()}" data-kind="{escape(mark.kind)}">'
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{base_y}" stroke="#8a5a00" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<text x="{label_x:.1f}" y="{TOP + 12 + (i % 3) * 13}" font-size="11" '
            f'text-anchor="{anchor}" fill="#8a5a00">{escape(mark_words(mark))}</text></g>'
        )
    # One line per instrument.
    for idx, c in enumerate(course.instruments):
        colour, dash, shape = STYLES[idx % len(STYLES)]
        points = [(x_of(m.submitted_at), y_of(m.score), m) for m in c.measures]
        path = " ".join(
            f"{'M' if n == 0 else 'L'}{x:.1f} {y:.1f}" for n, (x, y, _m) in enumerate(points)
        )
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<g data-series="{escape(c.instrument.id)}"><path d="{path}" fill="none" '
            f'stroke="{colour}" stroke-width="2"{dash_attr}/>'
        )
        for x, y, m in points:
            parts.append(
                f'<g data-point data-instrument="{escape(c.instrument.id)}" '
                f'data-at="{m.submitted_at.isoformat()}" data-score="{m.score}">'
                + _marker(shape, x, y, colour)
                + "</g>"
            )
        parts.append("</g>")
        # Legend below the axis.
        lx = LEFT + idx * 150
        ly = HEIGHT - 18
        parts.append(
            f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dash_attr}/>'
            + _marker(shape, lx + 12, ly, colour)
            + f'<text x="{lx + 30}" y="{ly + 4}" font-size="12" fill="#1d2430">'
            f"{escape(c.instrument.name)}</text>"
        )
    if course.medication_marks:
        lx = LEFT + len(course.instruments) * 150
        ly = HEIGHT - 18
        parts.append(
            f'<line x1="{lx + 12}" y1="{ly - 8}" x2="{lx + 12}" y2="{ly + 8}" stroke="#8a5a00" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
            f'<text x="{lx + 20}" y="{ly + 4}" font-size="12" fill="#1d2430">'
            "Medication change</text>"
        )
    parts.append("</svg>")
    # Every text above went through escape(); the rest is numbers and fixed markup.
    return Markup("".join(parts))  # noqa: S704
