"""Charts drawn on the server as inline SVG, for pages without JavaScript.

A bar chart of counts with a label and the value beside each bar, and a text alternative
(the page shows the same numbers as a table next to it). A suppressed count is never drawn
as zero, and never as a long bar: its row shows a short hatched stub (no longer than a
count just under the threshold would be drawn, and never longer than STUB_W) with the text
given for it (e.g. "fewer than 5 (suppressed)"), so it reads as withheld by shape and by
text, not by colour alone, and never looks larger than the counts shown. Every
text is escaped; the SVG holds no script and no style attribute (the pages' CSP).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 760
LABEL_W = 340  # room for the longest category ("schorsing van een geschiktheidsverklaring")
BAR_W = 260
ROW_H = 28
BAR_H = 18
PAD = 8
STUB_W = 24  # the longest a suppressed stub is drawn
STUB_MIN = 6


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: suppressed
    suppressed: bool


def bar_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    suppressed_text: str,
    threshold: int | None = None,
) -> Markup:
    """An accessible horizontal bar chart: `role="img"` named by its title, one row per
    bar. `chart_id` must be unique on the page (letters, digits and dashes). `threshold`
    (the suppression threshold, when known) keeps a suppressed stub no longer than a count
    under it would be."""
    if not chart_id.replace("-", "").isalnum():
        raise ValueError("chart_id: letters, digits and dashes only")
    top = max((b.value or 0 for b in bars if not b.suppressed), default=0)
    height = PAD * 2 + ROW_H * max(len(bars), 1)
    pattern = f"{chart_id}-hatch"
    stub = STUB_W
    if top and threshold:
        stub = max(STUB_MIN, min(STUB_W, round(BAR_W * (threshold - 1) / top)))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-labelledby="{chart_id}-title" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<defs><pattern id="{pattern}" patternUnits="userSpaceOnUse" width="8" height="8" '
        f'patternTransform="rotate(45)"><rect width="8" height="8" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="8" stroke="#595959" stroke-width="3"/></pattern></defs>',
    ]
    for i, bar in enumerate(bars):
        y = PAD + i * ROW_H
        text_y = y + BAR_H - 4
        out.append(
            f'<text x="{LABEL_W - 8}" y="{text_y}" text-anchor="end" font-size="14" '
            f'fill="#1a1a1a">{escape(bar.label)}</text>'
        )
        if bar.suppressed or bar.value is None:
            out.append(
                f'<rect class="suppressed" x="{LABEL_W}" y="{y}" width="{stub}" '
                f'height="{BAR_H}" fill="url(#{pattern})" stroke="#595959"/>'
            )
            out.append(
                f'<text x="{LABEL_W + stub + 8}" y="{text_y}" font-size="14" '
                f'font-style="italic" fill="#1a1a1a">{escape(suppressed_text)}</text>'
            )
            continue
        width = round(BAR_W * bar.value / top) if top else 0
        out.append(
            f'<rect class="bar" x="{LABEL_W}" y="{y}" width="{max(width, 1) if bar.value else 0}" '
            f'height="{BAR_H}" fill="#1d5fa8"/>'
        )
        out.append(
            f'<text x="{LABEL_W + max(width, 1) + 8}" y="{text_y}" font-size="14" '
            f'fill="#1a1a1a">{bar.value}</text>'
        )
    out.append("</svg>")
    # Every text above went through escape(); numbers and ids are ours.
    return Markup("".join(out))  # noqa: S704
