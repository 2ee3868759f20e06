"""Charts of a backtest (and of the demo) drawn by matplotlib, and the HTML report that holds them.

matplotlib is an extra (`pip install 'ammkeeper[backtest]'`): the keeper's runtime never imports
this module. Every chart is PNG bytes from the Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core.backtest import Result
from bot.core.errors import BadInput

COLORS = {"policy": "#1f77b4", "hold": "#7f7f7f", "lp": "#ff7f0e"}
LABELS = {"policy": "policy", "hold": "hold the start tokens", "lp": "LP, never rebalanced"}
COMPARE_COLORS = ("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise BadInput("charts need matplotlib: pip install 'ammkeeper[backtest]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return out.getvalue()


def _times(timestamps: Sequence[int]) -> list[datetime]:
    return [datetime.fromtimestamp(t, UTC) for t in timestamps]


def value_chart(
    x: Sequence[int],
    lines: Mapping[str, Sequence[float]],
    markers: Sequence[int] = (),
    title: str = "",
    unit: str = "",
    x_label: str | None = None,
) -> bytes:
    """Values over time, one line per portfolio, rebalances marked by vertical lines; below, each
    line's excess over holding (the differences the value lines are too close to show).

    Args:
        x: unix timestamps, or (with `x_label`) plain numbers such as blocks; `markers` alike.
        lines: by portfolio ("policy", "hold", "lp" get their colours and names; others are compared
            strategies).
    """
    plt = _pyplot()
    figure, (axis, excess) = plt.subplots(
        2, 1, figsize=(10, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    where: Sequence[Any] = list(x) if x_label else _times(x)
    marks: Sequence[Any] = list(markers) if x_label else _times(markers)
    hold = lines.get("hold")
    for i, (name, values) in enumerate(lines.items()):
        color = COLORS.get(name, COMPARE_COLORS[i % len(COMPARE_COLORS)])
        axis.plot(where, values, label=LABELS.get(name, name), color=color, linewidth=1.3)
        if hold is not None and name != "hold":
            excess.plot(where, [v - h for v, h in zip(values, hold, strict=True)], color=color, linewidth=1.1)
    for at in marks:
        for panel in (axis, excess):
            panel.axvline(at, color="#2ca02c", alpha=0.25, linewidth=0.8)
    if markers:
        axis.plot([], [], color="#2ca02c", alpha=0.5, label=f"rebalance ({len(markers)})")
    excess.axhline(0, color=COLORS["hold"], linewidth=0.8)
    axis.set_title(title)
    axis.set_ylabel(unit)
    excess.set_ylabel(f"minus holding{f' ({unit})' if unit else ''}")
    for panel in (axis, excess):
        panel.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    if x_label:
        excess.set_xlabel(x_label)
    else:
        figure.autofmt_xdate()
    return _png(figure)


def drawdown_chart(timestamps: Sequence[int], lines: Mapping[str, Sequence[float]]) -> bytes:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(10, 2.8))
    when = _times(timestamps)
    for i, (name, values) in enumerate(lines.items()):
        peak, drawdown = 0.0, []
        for v in values:
            peak = max(peak, v)
            drawdown.append(-(1 - v / peak) * 100 if peak > 0 else 0.0)
        color = COLORS.get(name, COMPARE_COLORS[i % len(COMPARE_COLORS)])
        axis.plot(when, drawdown, label=LABELS.get(name, name), color=color, linewidth=1.1)
    axis.set_title("drawdown")
    axis.set_ylabel("% from the peak")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower left", fontsize=8)
    figure.autofmt_xdate()
    return _png(figure)


def weights_chart(result: Result) -> bytes:
    """Each sleeve's weight over time inside its band around the target."""
    plt = _pyplot()
    labels = list(result.series.weights)
    columns = 4
    rows = (len(labels) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(12, 2.2 * rows), squeeze=False, sharex=True)
    when = _times(result.series.timestamp)
    for i, label in enumerate(labels):
        axis = axes[i // columns][i % columns]
        target, band = result.targets[label] * 100, result.bands[label] * 100
        axis.axhspan(target - band, target + band, color="#2ca02c", alpha=0.12)
        axis.axhline(target, color="#2ca02c", linewidth=0.8)
        axis.plot(when, [w * 100 for w in result.series.weights[label]], color=COLORS["policy"], linewidth=1)
        axis.set_title(label, fontsize=9)
        axis.tick_params(labelsize=7)
    for j in range(len(labels), rows * columns):
        axes[j // columns][j % columns].axis("off")
    figure.suptitle("weights (%) inside their bands")
    figure.autofmt_xdate()
    return _png(figure)


def costs_chart(result: Result) -> bytes:
    """Cumulative LP fees, impermanent loss and gas of the policy and of the never-rebalanced LP."""
    plt = _pyplot()
    s = result.series
    figure, axis = plt.subplots(figsize=(10, 3.4))
    when = _times(s.timestamp)
    axis.plot(when, s.fees_policy, color=COLORS["policy"], label="LP fees, policy")
    axis.plot(when, s.fees_lp, color=COLORS["lp"], label="LP fees, never rebalanced")
    axis.plot(when, s.il_policy, color=COLORS["policy"], linestyle="--", label="IL, policy")
    axis.plot(when, s.il_lp, color=COLORS["lp"], linestyle="--", label="IL, never rebalanced")
    axis.plot(when, [-g for g in s.gas], color="#d62728", label="gas paid (negative)")
    axis.axhline(0, color="#444", linewidth=0.6)
    axis.set_title("cumulative fees, impermanent loss and gas")
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    figure.autofmt_xdate()
    return _png(figure)


def heatmap(grid: Mapping[tuple[str, str], float], x_name: str, y_name: str, title: str) -> bytes:
    """Excess return over two parameters (the best of any others at each cell)."""
    plt = _pyplot()
    xs = sorted({x for x, _ in grid}, key=_sort_key)
    ys = sorted({y for _, y in grid}, key=_sort_key)
    cells = [[grid.get((x, y), float("nan")) for x in xs] for y in ys]
    figure, axis = plt.subplots(figsize=(1.2 * len(xs) + 3, 0.6 * len(ys) + 2))
    image = axis.imshow(cells, cmap="RdYlGn", aspect="auto", origin="lower")
    axis.set_xticks(range(len(xs)), xs)
    axis.set_yticks(range(len(ys)), ys)
    axis.set_xlabel(x_name)
    axis.set_ylabel(y_name)
    for j, row in enumerate(cells):
        for i, value in enumerate(row):
            if value == value:  # not NaN
                axis.text(i, j, f"{value * 100:+.2f}%", ha="center", va="center", fontsize=8)
    figure.colorbar(image, ax=axis, label="excess over holding")
    axis.set_title(title)
    return _png(figure)


def _sort_key(text: str) -> tuple[int, float | str]:
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def backtest_charts(results: Sequence[Result]) -> dict[str, bytes]:
    """The charts of one history: value (policy, compared strategies, both baselines), drawdown,
    weights and costs of the first policy."""
    main = results[0]
    s = main.series
    lines: dict[str, Sequence[float]] = {"policy": s.policy}
    for other in results[1:]:
        lines[other.strategy] = other.series.policy
    lines["hold"], lines["lp"] = s.hold, s.lp
    return {
        "value": value_chart(
            s.timestamp,
            lines,
            [r.timestamp for r in main.rebalances],
            f"{main.book} on {main.path}",
            unit=main.numeraire,
        ),
        "drawdown": drawdown_chart(s.timestamp, lines),
        "weights": weights_chart(main),
        "costs": costs_chart(main),
    }


def html_page(title: str, sections: Sequence[tuple[str, str, Mapping[str, bytes]]]) -> str:
    """A self-contained page: per section a heading, preformatted text and PNG charts inline."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
        "pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:12px}img{max-width:100%}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for heading, text, charts in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><pre>{html.escape(text)}</pre>")
        for name, png in charts.items():
            data = base64.b64encode(png).decode()
            parts.append(f"<p><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'></p>")
    parts.append("</body></html>")
    return "\n".join(parts)
