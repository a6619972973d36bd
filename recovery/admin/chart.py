"""The pain chart of the timeline, drawn as inline SVG on the server (no script, no CDN).

Per location: the daily mean as a line with points, and the day's range (min-max) as a vertical
bar. Over all locations: the trailing 7-day mean as a trend line. Surgery dates are dashed
vertical lines, appointments small triangles on the time axis. Longer than ``WEEKLY_AFTER_DAYS``,
days are merged into weeks (mean weighted by the number of logs, min of mins, max of maxes) so
the drawing stays small whatever the history.
"""

from collections import defaultdict
from datetime import date, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from recovery.activity.selectors import StepsCurve, StepsDay

from .timeline.events import PainDay, TimelineEvent

WIDTH, HEIGHT = 960, 280
LEFT, RIGHT, TOP, BOTTOM = 40, 110, 16, 34
WEEKLY_AFTER_DAYS = 400
COLOURS = {
    "back": "#1f77b4",
    "leg": "#d62728",
    "neck": "#2ca02c",
    "arm": "#9467bd",
    "incision": "#ff7f0e",
    "other": "#7f7f7f",
}


def _weekly(pain_days: list[PainDay]) -> list[PainDay]:
    buckets: dict[tuple[date, str], list[PainDay]] = defaultdict(list)
    for p in pain_days:
        monday = p.day - timedelta(days=p.day.weekday())
        buckets[(monday, p.location)].append(p)
    merged = []
    for (monday, location), rows in sorted(buckets.items()):
        n = sum(r.count for r in rows)
        merged.append(
            PainDay(
                day=monday,
                location=location,
                mean=sum(r.mean * r.count for r in rows) / n,
                low=min(r.low for r in rows),
                high=max(r.high for r in rows),
                count=n,
                medicated=sum(r.medicated for r in rows),
            )
        )
    return merged


def pain_chart_svg(
    *,
    pain_days: list[PainDay],
    trend: list[tuple[date, float]],
    since: date | None,
    until: date,
    surgeries: list[TimelineEvent] = (),
    appointments: list[TimelineEvent] = (),
) -> SafeString:
    first_days = [p.day for p in pain_days] + [e.day for e in (*surgeries, *appointments)]
    start = since or (min(first_days) if first_days else until - timedelta(days=30))
    span = max((until - start).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return round(LEFT + (day - start).days / span * plot_w, 1)

    def y(value: float) -> float:
        return round(TOP + (10 - value) / 10 * plot_h, 1)

    weekly = span > WEEKLY_AFTER_DAYS
    points = _weekly(pain_days) if weekly else pain_days
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="pain-chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
            f' width="100%" role="img" aria-label="Pain over time" data-points="{len(points)}"'
            f' data-granularity="{"week" if weekly else "day"}">'
        )
    ]
    # Grid and axes.
    for v in range(0, 11, 2):
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v)}" y2="{y(v)}" '
            'stroke="#ddd" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4}" text-anchor="end" font-size="11">{v}</text>'
        )
    step = max(span // 6, 1)
    for i in range(0, span + 1, step):
        day = start + timedelta(days=i)
        out.append(
            f'<text x="{x(day)}" y="{HEIGHT - 14}" text-anchor="middle" font-size="11">'
            f"{day:%Y-%m-%d}</text>"
        )
    # Surgery dates and appointments.
    for s in surgeries:
        out.append(
            f'<g class="marker-surgery"><line x1="{x(s.day)}" x2="{x(s.day)}" y1="{TOP}" '
            f'y2="{TOP + plot_h}" stroke="#000" stroke-dasharray="4 3"/>'
            f'<text x="{x(s.day) + 3}" y="{TOP + 10}" font-size="11">surgery</text>'
            f"<title>{escape(s.title)} ({s.day})</title></g>"
        )
    base = TOP + plot_h
    for a in appointments:
        ax = x(a.day)
        out.append(
            f'<polygon class="marker-appointment" points="{ax},{base - 7} {ax - 5},{base} '
            f'{ax + 5},{base}" fill="#555"><title>{escape(a.title)} {a.day} ({a.status})'
            "</title></polygon>"
        )
    # Pain per location: range bars, mean line, points.
    by_location: dict[str, list[PainDay]] = defaultdict(list)
    for p in points:
        by_location[p.location].append(p)
    for row, (location, rows) in enumerate(sorted(by_location.items())):
        colour = COLOURS.get(location, "#333")
        out.append(f'<g class="pain-series" data-location="{escape(location)}">')
        for p in rows:
            if p.low != p.high:
                out.append(
                    f'<line class="pain-range" x1="{x(p.day)}" x2="{x(p.day)}" y1="{y(p.low)}" '
                    f'y2="{y(p.high)}" stroke="{colour}" stroke-opacity="0.35" stroke-width="3"/>'
                )
        line = " ".join(f"{x(p.day)},{y(p.mean)}" for p in rows)
        out.append(
            f'<polyline class="pain-mean" points="{line}" fill="none" stroke="{colour}" '
            'stroke-width="1.5"/>'
        )
        for p in rows:
            out.append(
                f'<circle class="pain-point" cx="{x(p.day)}" cy="{y(p.mean)}" r="2.5" '
                f'fill="{colour}" data-day="{p.day}" data-mean="{p.mean:.2f}">'
                f"<title>{p.day} {escape(location)}: mean {p.mean:.1f}, "
                f"{p.low}-{p.high}, {p.count} logs</title></circle>"
            )
        out.append("</g>")
        ly = TOP + 14 + row * 16
        out.append(
            f'<rect x="{WIDTH - RIGHT + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 24}" y="{ly}" font-size="11">{escape(location)}</text>'
        )
    if trend:
        line = " ".join(f"{x(d)},{y(v)}" for d, v in trend if d >= start)
        out.append(
            f'<polyline class="pain-trend" points="{line}" fill="none" stroke="#000" '
            'stroke-width="2.5" stroke-opacity="0.75"/>'
        )
        ly = TOP + 14 + len(by_location) * 16
        out.append(
            f'<line x1="{WIDTH - RIGHT + 10}" x2="{WIDTH - RIGHT + 20}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="#000" stroke-width="2.5"/>'
            f'<text x="{WIDTH - RIGHT + 24}" y="{ly}" font-size="11">7-day trend</text>'
        )
    if not points:
        out.append(
            f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
            'text-anchor="middle" font-size="13">No pain logs in this period</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above


# --- Daily steps against the pre-operative baseline -------------------------------------------

STEPS_HEIGHT = 240


def _weekly_steps(days: list[StepsDay]) -> list[StepsDay]:
    buckets: dict[date, list[StepsDay]] = defaultdict(list)
    for d in days:
        buckets[d.day - timedelta(days=d.day.weekday())].append(d)
    merged = []
    for monday, rows in sorted(buckets.items()):
        n = len(rows)
        percents = [r.percent for r in rows if r.percent is not None]
        expected = [r.expected_percent for r in rows if r.expected_percent is not None]
        merged.append(
            StepsDay(
                day=monday,
                steps=round(sum(r.steps for r in rows) / n),
                post_op_day=rows[0].post_op_day,
                percent=round(sum(percents) / len(percents), 1) if percents else None,
                expected_percent=round(sum(expected) / len(expected), 1) if expected else None,
            )
        )
    return merged


def steps_chart_svg(*, curve: StepsCurve, since: date | None, until: date) -> SafeString:
    """Each day's steps as a percentage of the pre-operative baseline (points and a line), the
    expected recovery curve (dashed), 100% (the baseline) and the surgery date. Without a
    baseline, the raw steps per day and a note saying why there are no percentages."""
    baseline = curve.baseline
    first_days = [d.day for d in curve.days]
    start = since or (min(first_days) if first_days else until - timedelta(days=30))
    span = max((until - start).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, STEPS_HEIGHT - TOP - BOTTOM
    weekly = span > WEEKLY_AFTER_DAYS
    days = [d for d in curve.days if d.day >= start]
    points = _weekly_steps(days) if weekly else days
    expected = [] if weekly else curve.expected_line(start, until)
    if weekly and baseline is not None:
        expected = [(d.day, d.expected_percent) for d in points if d.expected_percent is not None]

    def value(d: StepsDay) -> float:
        return d.percent if baseline is not None and d.percent is not None else d.steps

    top = max([value(d) for d in points] + [v for _, v in expected] + [0])
    if baseline is not None:
        top = max(top, 150.0)
    top = top or 1000.0

    def x(day: date) -> float:
        return round(LEFT + (day - start).days / span * plot_w, 1)

    def y(v: float) -> float:
        return round(TOP + (top - v) / top * plot_h, 1)

    unit = "% of baseline" if baseline is not None else "steps"
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="steps-chart" '
            f'viewBox="0 0 {WIDTH} {STEPS_HEIGHT}" width="100%" role="img" '
            f'aria-label="Daily steps, {unit}" data-points="{len(points)}" '
            f'data-granularity="{"week" if weekly else "day"}" '
            f'data-baseline="{f"{baseline.steps:.0f}" if baseline else ""}">'
        )
    ]
    for i in range(5):
        v = top * i / 4
        label = f"{v:.0f}%" if baseline is not None else f"{v:.0f}"
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(v)}" y2="{y(v)}" '
            'stroke="#eee" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y(v) + 4}" text-anchor="end" font-size="10">{label}</text>'
        )
    step = max(span // 6, 1)
    for i in range(0, span + 1, step):
        day = start + timedelta(days=i)
        out.append(
            f'<text x="{x(day)}" y="{STEPS_HEIGHT - 14}" text-anchor="middle" font-size="11">'
            f"{day:%Y-%m-%d}</text>"
        )
    if curve.surgery_on is not None and start <= curve.surgery_on <= until:
        sx = x(curve.surgery_on)
        out.append(
            f'<g class="marker-surgery"><line x1="{sx}" x2="{sx}" y1="{TOP}" '
            f'y2="{TOP + plot_h}" stroke="#000" stroke-dasharray="4 3"/>'
            f'<text x="{sx + 3}" y="{TOP + 10}" font-size="11">surgery</text></g>'
        )
    legend = []
    if baseline is not None:
        out.append(
            f'<line class="steps-baseline" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(100)}" '
            f'y2="{y(100)}" stroke="#2ca02c" stroke-width="1"/>'
        )
        legend.append(("#2ca02c", f"baseline {baseline.steps:.0f}/day", ""))
    if expected:
        line = " ".join(f"{x(d)},{y(v)}" for d, v in expected)
        out.append(
            f'<polyline class="steps-expected" points="{line}" fill="none" stroke="#ff7f0e" '
            'stroke-width="2" stroke-dasharray="6 4"/>'
        )
        legend.append(("#ff7f0e", "expected", ""))
    if points:
        line = " ".join(f"{x(d.day)},{y(value(d))}" for d in points)
        out.append(
            f'<polyline class="steps-line" points="{line}" fill="none" stroke="#1f77b4" '
            'stroke-width="1.5"/>'
        )
        for d in points:
            pct = f", {d.percent:.0f}% of baseline" if d.percent is not None else ""
            exp = f" (expected {d.expected_percent:.0f}%)" if d.expected_percent is not None else ""
            out.append(
                f'<circle class="steps-point" cx="{x(d.day)}" cy="{y(value(d))}" r="2.5" '
                f'fill="#1f77b4" data-day="{d.day}" data-steps="{d.steps}" '
                f'data-percent="{"" if d.percent is None else d.percent}">'
                f"<title>{d.day}: {d.steps} steps{pct}{exp}</title></circle>"
            )
        legend.append(("#1f77b4", "steps" if baseline is None else "steps, % of baseline", ""))
    for row, (colour, text, _) in enumerate(legend):
        ly = TOP + 14 + row * 16
        out.append(
            f'<rect x="{WIDTH - RIGHT + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT + 24}" y="{ly}" font-size="10">{escape(text)}</text>'
        )
    if not points:
        message = "No daily steps in this period"
    elif baseline is None:
        message = "No baseline: fewer than 7 days of steps in the 14 days before surgery"
    else:
        message = ""
    if message:
        out.append(
            f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + 14}" '
            f'text-anchor="middle" font-size="12">{escape(message)}</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))  # noqa: S308 - every interpolated text is escaped above
