"""Charts as inline, responsive, deterministic SVG strings drawn by matplotlib.

No pyplot: figures are built with the object API on an Agg canvas, so no GUI backend is ever selected and no
figure is left in a global registry; rcParams change only inside ``rc_context`` while a chart is drawn. Text is
drawn as paths (``svg.fonttype = path``): the page needs no font file and renders the same everywhere. Two runs
on the same data give the same bytes: a fixed ``svg.hashsalt`` makes the clip-path and marker ids stable and
``metadata={"Date": None}`` drops the timestamp.
"""

from __future__ import annotations

import html
import io
import re
import textwrap
import warnings
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .formatting import NNBSP, format_percent

HASH_SALT = "achats-innovants-rapport"

RC = {
    "svg.hashsalt": HASH_SALT,
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",  # shipped with matplotlib: same glyphs on every machine
    "font.size": 10,
    "text.usetex": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}

# Okabe–Ito colours (readable by colour-blind readers), plus a distinct marker per scope for greyscale prints.
SCOPE_STYLES = {
    "etat": ("#0072B2", "o"),
    "etat_operateurs": ("#E69F00", "s"),
    "etat_operateurs_hopitaux": ("#009E73", "^"),
    "tous_acheteurs": ("#CC79A7", "D"),
}
BAR_COLOUR = "#0072B2"
TARGET_COLOUR = "#D55E00"
INK = "#222222"


def mpl_text(text: object) -> str:
    """Text from the data, safe for matplotlib: a « $ » would otherwise start mathtext (and may raise)."""
    return str(text).replace("$", r"\$")


def axis_percent(x: float, pos: int | None = None) -> str:
    """Axis tick of a share as a French percentage with only the decimals it needs: « 0,5 % », « 2 % »."""
    digits = f"{x * 100:.3f}".rstrip("0").rstrip(".")
    digits = "0" if digits in ("-0", "") else digits
    return digits.replace(".", ",").replace("-", "\u2212") + f"{NNBSP}%"


def _percent_axis(axis) -> None:
    # Round steps only (1, 2, 2.5, 5): matplotlib's default also allows 8, which gives ticks like « 0,8 % ».
    axis.set_major_locator(ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(ticker.FuncFormatter(axis_percent))


def _title(figure: Figure, title: str) -> None:
    """Title at the figure's left edge, wrapped: above the axes it would be cut by long category labels."""
    figure.suptitle("\n".join(textwrap.wrap(mpl_text(title), 80)), x=0.01, ha="left", fontsize=11,
                    fontweight="bold", color=INK)


def _year_formatter(x, pos=None) -> str:
    # Years carry no thousands separator and no offset (« 2024 », never « 2,024e3 »).
    return str(int(round(x)))


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _strip_prolog(svg: str) -> str:
    svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>\s*", "", svg)
    # Comments repeat the drawn text (escaped by matplotlib); metadata names the tool: neither is needed inline.
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    return re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)


def _prefix_ids(svg: str, prefix: str) -> str:
    """Several SVGs share one HTML document: ids (glyphs, clip paths, markers) must not collide between them."""
    ids = set(re.findall(r'\bid="([^"]+)"', svg))

    def rename(match: re.Match) -> str:
        lead, name = match.group(1), match.group(2)
        return f"{lead}{prefix}-{name}" if name in ids else match.group(0)

    return re.sub(r'(\bid="|href="#|url\(#)([^")]+)', rename, svg)


def _responsive(svg: str, prefix: str, title: str, description: str) -> str:
    """Keep the viewBox, let the width follow the page and drop the fixed height; add title and desc."""
    match = re.search(r"<svg\b[^>]*>", svg)
    if match is None:
        raise ValueError("matplotlib did not produce an <svg> element")
    tag = match.group(0)
    tag = re.sub(r'\s(width|height)="[^"]*"', "", tag)
    tag = tag.replace(
        "<svg", f'<svg width="100%" role="img" focusable="false" '
                f'aria-labelledby="{prefix}-titre {prefix}-desc"', 1)
    accessible = (f'<title id="{prefix}-titre">{html.escape(title)}</title>'
                  f'<desc id="{prefix}-desc">{html.escape(description)}</desc>')
    return svg[:match.start()] + tag + accessible + svg[match.end():]


def figure_to_svg(figure: Figure, name: str, title: str, description: str) -> str:
    """The figure as an inline SVG element, ids prefixed with ``g-<name>``, responsive, with title and desc."""
    buffer = io.StringIO()
    with matplotlib.rc_context(RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    prefix = "g-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)
    svg = _prefix_ids(_strip_prolog(buffer.getvalue()), prefix)
    return _responsive(svg, prefix, title, description).strip()


def _draw_quietly(draw, *args, **kwargs) -> str:
    # Untrusted labels may hold characters DejaVu lacks: matplotlib warns and draws a box, which is fine here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        with matplotlib.rc_context(RC):
            return draw(*args, **kwargs)


def _target_steps(targets: Mapping[int, float], first: int, last: int) -> tuple[list[float], list[float]]:
    """Target as a step line over every year of the axis (the supplier target moves from 2 % to 4 % in 2023)."""
    years = list(range(first, last + 1))
    values = [targets.get(y) for y in years]
    # Years between published ones take the target of the closest earlier year.
    filled, previous = [], next((v for v in values if v is not None), None)
    for value in values:
        previous = value if value is not None else previous
        filled.append(previous)
    # Drawn with where="post": the value at x holds until the next x, so each year spans [year − ½, year + ½).
    return [y - 0.5 for y in years] + [last + 0.5], filled + [filled[-1]]


def trend_chart(name: str, title: str, description: str, series: Mapping[str, Sequence[tuple[int, float, int]]],
                labels: Mapping[str, str], targets: Mapping[int, float], target_label: str,
                small: int) -> str:
    """Share by year, one line per scope, against the target.

    ``series``: scope -> [(year, share, number of contracts)]; years with fewer than ``small`` contracts get a
    hollow marker, so that a share computed on a handful of contracts is not read like the others."""
    return _draw_quietly(_trend_chart, name, title, description, series, labels, targets, target_label, small)


def _trend_chart(name, title, description, series, labels, targets, target_label, small) -> str:
    figure = _new_figure(8, 4.6)
    axes = figure.add_subplot()
    years = sorted({year for points in series.values() for year, _, _ in points})
    top = 0.0
    for scope, points in series.items():
        colour, marker = SCOPE_STYLES.get(scope, (INK, "o"))
        points = sorted(points)
        xs, ys = _with_gaps([p[0] for p in points], [p[1] for p in points])
        axes.plot(xs, ys, color=colour, linewidth=2, label=mpl_text(labels.get(scope, scope)), zorder=3)
        for year, share, count in points:
            hollow = count < small
            axes.plot([year], [share], marker=marker, markersize=6, color=colour, linestyle="none",
                      markerfacecolor="white" if hollow else colour, markeredgewidth=1.5, zorder=4)
        top = max([top] + [p[1] for p in points])
    handles, names = axes.get_legend_handles_labels()
    if targets and years:
        xs, ys = _target_steps(targets, years[0], years[-1])
        axes.step(xs, ys, where="post", color=TARGET_COLOUR, linestyle="--", linewidth=1.6, zorder=2)
        handles.append(Line2D([], [], color=TARGET_COLOUR, linestyle="--", linewidth=1.6))
        names.append(mpl_text(target_label))
        top = max([top] + ys)
    handles.append(Line2D([], [], color=INK, marker="o", markerfacecolor="white", linestyle="none"))
    names.append(mpl_text(f"point creux : moins de {small} marchés dans l'année"))
    axes.set_ylim(0, top * 1.15 if top > 0 else 0.025)
    if years:
        axes.set_xlim(years[0] - 0.6, years[-1] + 0.6)
    axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=10))
    axes.xaxis.set_major_formatter(ticker.FuncFormatter(_year_formatter))
    _percent_axis(axes.yaxis)
    axes.grid(axis="y", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    _title(figure, title)
    axes.set_xlabel("Année de notification")
    figure.legend(handles, names, loc="outside lower center", ncols=2, fontsize=9)
    return figure_to_svg(figure, name, title, description)


def _with_gaps(years: list[int], values: list[float]) -> tuple[list[float], list[float]]:
    """Break the line where a year is missing: joining 2014 to 2016 would invent 2015."""
    xs: list[float] = []
    ys: list[float] = []
    for index, (year, value) in enumerate(zip(years, values)):
        if index and year - years[index - 1] > 1:
            xs.append(float("nan"))
            ys.append(float("nan"))
        xs.append(year)
        ys.append(value)
    return xs, ys


def bar_chart(name: str, title: str, description: str, labels: Sequence[str], shares: Sequence[float],
              annotations: Sequence[str], target: float | None) -> str:
    """Horizontal bars (first label on top) with a text label at the end of each bar and the target line."""
    return _draw_quietly(_bar_chart, name, title, description, labels, shares, annotations, target)


def _bar_chart(name, title, description, labels, shares, annotations, target) -> str:
    wrapped = [mpl_text(textwrap.shorten(label, 90, placeholder="…")) for label in labels]
    wrapped = ["\n".join(textwrap.wrap(label, 32)) or " " for label in wrapped]
    lines = sum(max(1, label.count("\n") + 1) for label in wrapped)
    figure = _new_figure(8, 1.3 + 0.3 * max(lines, len(labels)) + 0.15 * len(labels))
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    values = [share if share is not None else 0.0 for share in shares]
    axes.barh(positions, values, color=BAR_COLOUR, height=0.65, zorder=3)
    axes.set_yticks(positions, wrapped)
    axes.invert_yaxis()
    top = max(values + [target or 0.0, 0.0])
    right = top * 1.7 if top > 0 else 0.03
    axes.set_xlim(0, right)
    for position, value, text in zip(positions, values, annotations):
        axes.text(value + right * 0.01, position, mpl_text(text), va="center", ha="left", fontsize=8.5,
                  color=INK, zorder=4)
    if target:
        axes.axvline(target, color=TARGET_COLOUR, linestyle="--", linewidth=1.4, zorder=2)
        axes.text(target, -0.6 if len(labels) > 0 else 0, mpl_text(f" cible {format_percent(target)}"),
                  color=TARGET_COLOUR, fontsize=8.5, va="bottom", ha="left")
    _percent_axis(axes.xaxis)
    axes.grid(axis="x", color="#dddddd", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.tick_params(axis="y", length=0)
    _title(figure, title)
    axes.set_xlabel("Part des marchés décidés innovants (en nombre)")
    return figure_to_svg(figure, name, title, description)
