"""The forecast fan of one milestone as an SVG picture, drawn on the server (the pages need no JavaScript):
the notes' percent complete over time, the fan from the latest note to P50 and P80, the deadline and today.
A pure function of plain data; the picture carries its own text alternative (<title>, <desc>)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH, HEIGHT = 320, 132
LEFT, RIGHT, TOP, BOTTOM = 34, 10, 10, 26  # the plot's margins, for the axis labels
INK, MUTED, LATE, FAN, PROMISED = "#1f2933", "#52606d", "#b42318", "#2563eb", "#8a4b00"


@dataclass(frozen=True)
class FanData:
    """What the picture shows, in the team's days."""

    title: str  # the milestone's name
    points: Sequence[tuple[dt.date, int]]  # (day of the note, percent complete)
    deadline: dt.date
    today: dt.date
    p50: dt.date | None
    p80: dt.date | None
    summary: str  # the same in words, for a screen reader and a text browser
    promised: dt.date | None = None  # the date the client was last given, when it is not the deadline
    today_label: str = "today"
    deadline_label: str = "deadline"
    promised_label: str = "promised"
    # the grid's 0, 50 and 100 percent as the team's locale writes them ("%50" in Turkish, "৫০%" in Bengali)
    percent_labels: tuple[str, str, str] = ("0%", "50%", "100%")


def fan_svg(d: FanData, ident: str) -> str:
    """The picture; `ident` makes its element ids unique on the page."""
    days = [p[0] for p in d.points] + [d.deadline, d.today] + [x for x in (d.p50, d.p80, d.promised) if x]
    start = min(days) - dt.timedelta(days=2)
    end = max(days) + dt.timedelta(days=3)
    span = max((end - start).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: dt.date) -> float:
        return round(LEFT + plot_w * (day - start).days / span, 1)

    def y(percent: float) -> float:
        return round(TOP + plot_h * (1 - percent / 100), 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
           f'height="{HEIGHT}" role="img" aria-labelledby="{ident}-t {ident}-d" class="fan">',
           f'<title id="{ident}-t">{escape(d.title)}</title>', f'<desc id="{ident}-d">{escape(d.summary)}</desc>']
    for percent, label in zip((0, 50, 100), d.percent_labels, strict=True):  # the grid, labelled at the left
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(percent)}" y2="{y(percent)}" stroke="#d9e2ec"/>')
        out.append(f'<text x="{LEFT - 4}" y="{y(percent) + 4}" text-anchor="end" font-size="10" '
                   f'fill="{MUTED}">{escape(label)}</text>')
    if d.points and (d.p50 or d.p80):  # the fan: from the latest note to 100% between P50 and P80
        last_day, last_pct = d.points[-1]
        near, far = d.p50 or d.p80, d.p80 or d.p50
        assert near is not None and far is not None
        out.append(f'<polygon points="{x(last_day)},{y(last_pct)} {x(near)},{y(100)} {x(far)},{y(100)}" '
                   f'fill="{FAN}" fill-opacity="0.18"/>')
        out.append(f'<line x1="{x(last_day)}" y1="{y(last_pct)}" x2="{x(near)}" y2="{y(100)}" stroke="{FAN}" '
                   'stroke-width="1.5"/>')
        if d.p80:
            out.append(f'<line x1="{x(last_day)}" y1="{y(last_pct)}" x2="{x(d.p80)}" y2="{y(100)}" stroke="{FAN}" '
                       'stroke-width="1.5" stroke-dasharray="4 3"/>')
    if d.points:  # the notes
        line = " ".join(f"{x(day)},{y(pct)}" for day, pct in d.points)
        out.append(f'<polyline points="{line}" fill="none" stroke="{INK}" stroke-width="2"/>')
        out += [f'<circle cx="{x(day)}" cy="{y(pct)}" r="2.5" fill="{INK}"/>' for day, pct in d.points]
    for day, colour, label, anchor, dash in ((d.today, MUTED, d.today_label, "end", ' stroke-dasharray="2 2"'),
                                             (d.deadline, LATE, d.deadline_label, "start", "")):
        out.append(f'<line x1="{x(day)}" x2="{x(day)}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{colour}" '
                   f'stroke-width="1.5"{dash}/>')
        if anchor == "start" and x(day) > WIDTH - RIGHT - 6 * len(label):  # at the right edge: its label to its left
            anchor = "end"
        shift = 3 if anchor == "start" else -3
        out.append(f'<text x="{x(day) + shift}" y="{HEIGHT - 8}" text-anchor="{anchor}" font-size="10" '
                   f'fill={quoteattr(colour)}>{escape(label)}</text>')
    if d.promised and d.promised != d.deadline:  # labelled at the top: it may sit close to the deadline
        out.append(f'<line x1="{x(d.promised)}" x2="{x(d.promised)}" y1="{TOP}" y2="{TOP + plot_h}" '
                   f'stroke="{PROMISED}" stroke-width="1.5" stroke-dasharray="6 3"/>')
        out.append(f'<text x="{x(d.promised) - 3}" y="{TOP + 10}" text-anchor="end" font-size="10" '
                   f'fill="{PROMISED}">{escape(d.promised_label)}</text>')
    out.append("</svg>")
    return "\n".join(out)
