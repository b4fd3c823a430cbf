"""The study's front over a grid's: which configurations the search found, and what it missed.

One panel, accuracy against the study's cost objective (forward passes per sample by default):
grid points small and grey with the grid's front dashed; the study's complete trials coloured by
strategy (pruned trials saw fewer problems, so their accuracy is on another scale: they are counted in
the title with their problem counts, not drawn), the baseline as a star, and the study's front as a solid line with
each point's trial number. The title says how much of the grid front's hypervolume the study's front
has, and for what share of the grid's forward passes.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from t2m.pipeline.report.plot import color, pareto_front
from t2m.pipeline.search.objectives import ACCURACY, OBJECTIVES


def plot_axes(plan) -> tuple:
    """(cost objective, accuracy objective) the study is drawn and compared on: its first objective
    to minimise and its first to maximise (forward passes and accuracy unless it says otherwise)."""
    cost = next((o for o in plan.objectives if o.direction == "minimize"), OBJECTIVES["forwards"])
    gain = next((o for o in plan.objectives if o.direction == "maximize"), ACCURACY)
    return cost, gain


def front_png(trials: pd.DataFrame, grid: pd.DataFrame | None, path: Path, plan, comparison: dict | None, grid_dir: Path | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    cost, gain = plot_axes(plan)
    fig, ax = plt.subplots(figsize=(10, 6.2))
    handles = []
    if grid is not None and {cost.column, gain.column} <= set(grid.columns):
        g = grid[grid[cost.column].notna() & grid[gain.column].notna()]
        x, y = g[cost.column].astype(float), 100 * g[gain.column].astype(float)
        ax.scatter(x, y, s=14, color="0.72", zorder=1)
        front = pareto_front(x, y)
        ax.plot(x[front], y[front], ls="--", color="0.55", lw=1.2, drawstyle="steps-post", zorder=2)
        handles.append(Line2D([], [], ls="--", marker="o", ms=4, color="0.6", label=f"grid: {len(g)} configurations and its front"))
    t = trials[trials[cost.column].notna() & trials[gain.column].notna()] if cost.column in trials and gain.column in trials else trials.iloc[0:0]
    t = t[t["duplicate_of"].isna()]
    for state, marker, size, alpha in (("complete", "o", 34, 0.9), ("baseline", "*", 260, 1.0)):
        rows = t[t["trial_state"] == state]
        for strategy, grp in rows.groupby("strategy"):
            ax.scatter(grp[cost.column].astype(float), 100 * grp[gain.column].astype(float), marker=marker, s=size, alpha=alpha,
                       color=color(strategy), edgecolors="gold" if state == "baseline" else None, zorder=4)  # fmt: skip
    front = t[t["on_front"]].sort_values(cost.column)
    if not front.empty:
        fx, fy = front[cost.column].astype(float), 100 * front[gain.column].astype(float)
        ax.plot(fx, fy, color="black", lw=1.4, drawstyle="steps-post", zorder=5)
        for (_, r), x, y in zip(front.iterrows(), fx, fy):
            ax.annotate(f"#{int(r['trial'])}", (x, y), xytext=(5, 5), textcoords="offset points", fontsize=8.5, zorder=6)
    drawn = t[t["trial_state"].isin(["complete", "baseline"])]  # the legend names only what is drawn
    strategies = sorted(set(drawn["strategy"].dropna())) if "strategy" in drawn else []
    handles += [Line2D([], [], ls="", marker="s", ms=7, color=color(s), label=s) for s in strategies]
    handles += [Line2D([], [], ls="", marker="o", ms=6, color="0.4", label=f"trial on all {plan.limits[-1]} problems"),
                Line2D([], [], ls="", marker="*", ms=12, mfc="0.4", mec="gold", label="baseline")]  # fmt: skip
    if len(front) >= 2:  # a front of one point is no line
        handles.append(Line2D([], [], color="black", lw=1.4, label="the study's front"))
    ax.legend(handles=handles, fontsize=8.5, loc="best", framealpha=0.85)
    ax.set_xlabel(cost.label)
    ax.set_ylabel(f"{gain.label} (%)")
    ax.grid(alpha=0.25)
    title = f"study {plan.study_name}: {int((t['trial_state'] != 'baseline').sum())} trials" + _pruned_note(t)
    if comparison and comparison.get("hypervolume_ratio") is not None:
        title += (f"\nits front has {100 * comparison['hypervolume_ratio']:.1f}% of the grid front's hypervolume for "
                  f"{100 * comparison['forwards_study'] / comparison['forwards_grid']:.1f}% of the grid's forward passes ({grid_dir.name})")  # fmt: skip
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _pruned_note(trials: pd.DataFrame) -> str:
    """`, 11 pruned (on 20 or 50 problems; not drawn, see trials.csv)`, or nothing."""
    pruned = trials[trials["trial_state"] == "pruned"]
    if pruned.empty:
        return ""
    counts = sorted({int(n) for n in pruned["n"].dropna()}) if "n" in pruned else []
    on = f"on {' or '.join(map(str, counts))} problems; " if counts else ""
    return f", {len(pruned)} pruned ({on}not drawn, see trials.csv)"
