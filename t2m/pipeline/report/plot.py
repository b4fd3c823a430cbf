"""The cost-versus-accuracy figure of a sweep: a PNG (matplotlib) and the same for W&B (plotly).

Both draw one point per configuration with the same marks, so that the PNG and the W&B chart read
alike (docs/results.md, "Reading the plot"):

    colour        the strategy (detector)
    shape         the paired comparison with the baseline: ★ the baseline itself, ▲ significantly
                  better, ▼ significantly worse (exact McNemar p, adjusted over the configurations
                  compared with that baseline, < 0.05), ● not significant
    error bar     the configuration's 95% Wilson interval (unpaired: what n alone allows)
    #i            row i of sweep_results.csv; the key under the plot spells out its knobs and its
                  paired Δaccuracy with the bootstrap interval (in W&B: hover over a point)
    ×k            k configurations drawn at the same place
    dashed line   the Pareto front: configurations no other beats on both cost and accuracy

The y-axis spans the intervals, not just the points, so a one-problem difference looks as small as it is.
`metric` picks the y-axis (METRICS: accuracy, or answer-line fidelity, t2m.analysis.errors.faithful);
the marks and the key then show that metric's paired comparison (`for_metric`).
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path

import pandas as pd

from t2m.analysis.metrics import METRICS
from t2m.analysis.stats import ALPHA
from t2m.pipeline.report.baseline import is_default_baseline_strategy
from t2m.pipeline.report.paired import STATS, names

COLORS = {"t2t": "black", "lowprob": "tab:blue", "t2t_remask": "tab:orange", "logitdiff": "tab:green", "none": "tab:gray", "wino": "tab:red"}
OTHER_COLORS = ("tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")  # strategies of your own
MARKERS = {"baseline": "*", "better": "^", "worse": "v", "n.s.": "o", "pruned": "x"}  # no baseline: "o" as well
PLOTLY_SYMBOLS = {"baseline": "star", "better": "triangle-up", "worse": "triangle-down", "n.s.": "circle", "pruned": "x"}
PANELS = (("mean_modifications", "avg_modifications_per_sample", "modifications per sample (T2T edits, T2M remasks)"),
          ("mean_forwards", "avg_forwards_per_sample", "forward passes per sample"))  # fmt: skip
MAX_LABELS = 20  # labelled points (and lines of the key); the table has the rest
ADJUSTED = {"holm": "p_Holm", "bh": "q_BH"}  # how an adjusted p is named beside the raw one (README, "Reading the plot")


def for_metric(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The table with `metric`'s value, interval and paired columns where the drawing (and the
    printout) read accuracy's, so one drawing serves every metric."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; allowed: {', '.join(METRICS)}")
    if metric == "accuracy" or metric not in df:
        return df
    mapping = {metric: "accuracy", f"{metric}_ci95_low": "accuracy_ci95_low", f"{metric}_ci95_high": "accuracy_ci95_high"}
    for against in ("baseline", "control"):
        mapping.update({names(metric, against)[k]: names("accuracy", against)[k] for k in STATS})
    mapping = {k: v for k, v in mapping.items() if k in df}
    return df.drop(columns=[v for v in mapping.values() if v in df]).rename(columns=mapping).assign(_metric=metric)


def pareto_front(cost: pd.Series, accuracy: pd.Series) -> list[int]:
    """Row labels of the configurations no other beats on both cost (lower) and accuracy (higher),
    ordered by cost."""
    front, best = [], -float("inf")
    for i in sorted(cost.index, key=lambda i: (cost[i], -accuracy[i])):
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return front


def color(strategy) -> str:
    if strategy in COLORS:
        return COLORS[strategy]
    return OTHER_COLORS[sum(map(ord, str(strategy))) % len(OTHER_COLORS)]  # the same colour in every plot


def verdict(row) -> str:
    if row.get("trial_state") == "pruned":
        return "pruned"
    v = row.get("vs_baseline")
    return v if isinstance(v, str) and v in MARKERS else "n.s."


def pruned(df: pd.DataFrame) -> pd.Series:
    """Rows of a search's pruned trials (t2m.pipeline.search): evaluated on fewer problems than the
    others, so drawn as x and never on a front or labelled."""
    return df["trial_state"].eq("pruned") if "trial_state" in df else pd.Series(False, index=df.index)


def knobs(row, shown_apart=()) -> str:
    """`lowprob τ=0.3 C_max=1 ρ_max=0.25` (τ only where the strategy edits, the caps only where it
    remasks), then `setting(row)` without the keys the caller shows itself (`shown_apart`)."""
    if not edits(row):
        return f"{row['strategy']}{setting(row, shown_apart)}"
    text = f"{row['strategy']} τ={_num(row.get('tau'))}"
    if remasks(row):
        c_max = row.get("c_max")
        text += f" C_max={'∞' if c_max is None or (isinstance(c_max, float) and math.isnan(c_max)) else _num(c_max)} ρ_max={_num(row.get('rho_max'))}"
    return text + setting(row, shown_apart)


# Decoding keys a row is told apart by where they are not DecodeConfig's defaults (besides the
# strategy's own knobs and gen_length, which follows the dataset), in the order they are shown.
SHOWN_SETTINGS = ("threshold", "steps", "temperature", "top_k", "top_p", "seed", "verify_steps", "eos_early_stop",
                  "max_post_steps", "attention", "refresh_cache")  # fmt: skip


def setting(row, shown_apart=()) -> str:
    """` [learned B=64 threshold=0.3 temperature=1.0]`: the unmasking policy, block length and the
    decoding settings where they are not DecodeConfig's defaults (empty otherwise), so that rows that
    differ only there are told apart."""
    from t2m.decoding.config import DecodeConfig

    defaults = DecodeConfig.__dataclass_fields__
    parts = []
    if isinstance(row.get("unmasking"), str) and row["unmasking"] != defaults["unmasking"].default:
        parts.append(str(row["unmasking"]))
    block = row.get("block_length")
    if _given(block) and block != defaults["block_length"].default:
        parts.append(f"B={_num(block)}")
    for key in SHOWN_SETTINGS:
        if key in shown_apart:
            continue
        value = row.get(key)
        if key == "seed" and not (_given(row.get("temperature")) and row["temperature"] > 0):
            continue  # greedy decoding does not read the seed
        if _given(value) and value != defaults[key].default:
            parts.append(f"{key}={_num(value) if isinstance(value, numbers.Real) and not isinstance(value, bool) else value}")
    return f" [{' '.join(parts)}]" if parts else ""


def _given(value) -> bool:
    """A value a row holds (a CSV cell of a column with gaps reads NaN; None is not given either)."""
    if value is None:
        return False
    return not (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value))


def comparison(row) -> str:
    """`Δ +4.0 pp [+1.0, +8.0], 5 fixed / 1 broken, p = 0.031, p_Holm = 0.093` (empty without a
    baseline; the adjusted p, which the verdict follows, only where a correction applies)."""
    v = row.get("vs_baseline")
    if not isinstance(v, str):
        return ""
    if v == "baseline":
        return "the baseline"
    lo, hi = 100 * row["delta_ci95_low"], 100 * row["delta_ci95_high"]
    text = (f"Δ {100 * row['delta_accuracy']:+.1f} pp [{lo:+.1f}, {hi:+.1f}], {int(row['fixed'])} fixed / {int(row['broken'])} broken, "
            f"p = {_p(row['mcnemar_p'])}{_adjusted(row)}")  # fmt: skip
    if _present(row.get("control_fixed")):  # a detector with its matched random-remask control
        text += (f"; vs control {int(row['control_fixed'])}/{int(row['control_broken'])}, p = {_p(row['control_mcnemar_p'])}"
                 f"{_adjusted(row, 'control_p_adjusted')}")  # fmt: skip
    return text


def _adjusted(row, col: str = "p_adjusted") -> str:
    name = ADJUSTED.get(row.get("correction"))
    return f", {name} = {_p(row[col])}" if name and _present(row.get(col)) else ""


def _present(v) -> bool:
    return v is not None and not pd.isna(v)


def rule(df: pd.DataFrame) -> str:
    """What a ▲/▼ means in `df`, short, as the key names the p: `p_Holm < 0.05` (the exact McNemar p
    adjusted by Holm), or `p < 0.05` for a table written before corrections or with stats.correction=none."""
    methods = df["correction"].dropna().unique() if "correction" in df else []
    return f"{ADJUSTED.get(methods[0], 'p') if len(methods) == 1 else 'p'} < {ALPHA}"


def p_order(df: pd.DataFrame) -> str:
    """The column significant rows are ranked by: the p their verdict follows."""
    return "p_adjusted" if "p_adjusted" in df else "mcnemar_p"


def labelled(df: pd.DataFrame) -> list:
    """The rows worth a label, most important first: baselines, the Pareto fronts, significant
    differences (smallest p first), then (in a sweep small enough to label everything) the rest."""
    df = df[~pruned(df)]
    acc = df["accuracy"].astype(float)
    whole = df["complete"].fillna(True).astype(bool) if "complete" in df else True
    v = df.apply(verdict, axis=1)
    picked = list(df.index[df.get("vs_baseline", pd.Series(index=df.index, dtype=object)) == "baseline"])
    for col, _, _ in PANELS:
        ok = df[col].notna() & acc.notna() & whole
        picked += pareto_front(df.loc[ok, col].astype(float), acc[ok])
    significant = df.index[v.isin(["better", "worse"])]
    picked += list(df.loc[significant].sort_values(p_order(df)).index)
    if len(df) <= MAX_LABELS:
        picked += list(df.index)
    return list(dict.fromkeys(picked))[:MAX_LABELS]


def png(df: pd.DataFrame, path: Path, overlay: pd.DataFrame | None = None, title: str | None = None, metric: str = "accuracy",
        caption: str | None = None) -> Path:
    import logging

    import matplotlib

    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # its font-cache note is no news to the user
    matplotlib.use("Agg")  # files only; never needs a display
    import matplotlib.pyplot as plt

    df = for_metric(df, metric)
    df = df[df["accuracy"].notna()]
    overlay = overlay if metric == "accuracy" else None  # published points are accuracies
    labels = labelled(df)
    plot_h, key_h = 5.2, 0.22 * (len(labels) + 1.5 + (len(df) > len(labels)) + (caption is not None))
    head_h = 1.35  # title, the paired summary line, two legend rows
    fig = plt.figure(figsize=(14, head_h + plot_h + 0.7 + key_h))
    grid = fig.add_gridspec(2, 2, height_ratios=[plot_h, key_h], hspace=0.7 / ((plot_h + key_h) / 2), wspace=0.05)
    axes = [fig.add_subplot(grid[0, 0])]
    axes.append(fig.add_subplot(grid[0, 1], sharey=axes[0]))
    acc = 100 * df["accuracy"].astype(float)
    low, high = 100 * df["accuracy_ci95_low"].astype(float), 100 * df["accuracy_ci95_high"].astype(float)
    shown = pd.concat([low, high] + ([overlay["accuracy_pct"]] if overlay is not None else []))
    axes[0].set_ylim(float(shown.min()) - 2, float(shown.max()) + 2)  # the intervals set the scale, so a one-problem step looks as small as it is
    for ax, (col, ref_col, xlabel) in zip(axes, PANELS):
        _panel(ax, df, col, acc, low, high, overlay, ref_col)
        ax.set_xlabel(xlabel)
    axes[0].set_yticks([t for t in axes[0].get_yticks() if 0 <= t <= 100])
    axes[0].set_ylabel(f"{METRICS[metric]} (%), with 95% Wilson intervals")
    axes[1].tick_params(labelleft=False)
    fig.subplots_adjust(left=0.055, right=0.985, top=1 - head_h / fig.get_figheight(), bottom=0.05 / fig.get_figheight())
    for ax, (col, _, _) in zip(axes, PANELS):
        _annotate(ax, df, df[col].astype(float), acc, labels)  # after the limits and layout are final
    _key(fig.add_subplot(grid[1, :]), df, _best_first(df, labels), METRICS[metric], caption)
    top = fig.get_figheight()
    fig.suptitle(title or f"cost vs {METRICS[metric]}", y=1 - 0.1 / top, fontsize=12)
    fig.text(0.5, 1 - 0.42 / top, paired_summary(df), ha="center", fontsize=10, color="0.25")
    strategies, marks = _legend_handles(df, overlay)
    fig.legend(handles=strategies, loc="center", bbox_to_anchor=(0.5, 1 - 0.72 / top), ncol=len(strategies), frameon=False, fontsize=9)
    fig.legend(handles=marks, loc="center", bbox_to_anchor=(0.5, 1 - 1.0 / top), ncol=len(marks), frameon=False, fontsize=9)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return Path(path)


def paired_summary(df: pd.DataFrame) -> str:
    """`vs baseline #0 (t2t τ=0.5), paired on 100 problems: ▲ 2 better, ▼ 1 worse, ● 105 not significant
    (p_Holm < 0.05)`"""
    if "vs_baseline" not in df or not (df["vs_baseline"] == "baseline").any():
        return "no baseline in these results: no paired comparison (set baseline=...)"
    parts = []
    for b in df.index[df["vs_baseline"] == "baseline"]:
        compared = df[(df["baseline_job"] == df.at[b, "baseline_job"]) & (df["vs_baseline"] != "baseline")]
        counts = compared["vs_baseline"].value_counts()
        n = compared["n_paired"]
        on = "" if n.empty else f", paired on {int(n.min())} problems" if n.min() == n.max() else f", paired on {int(n.min())}-{int(n.max())} problems"
        if "complete" in df and df.at[b, "complete"] == False:  # never silently the baseline
            on += f" (baseline incomplete: {int(df.at[b, 'n'])} problems)"
        parts.append(f"vs baseline #{b} ({knobs(df.loc[b])}){on}: ▲ {counts.get('better', 0)} better, ▼ {counts.get('worse', 0)} worse, "
                     f"● {counts.get('n.s.', 0)} not significant")  # fmt: skip
    return "; ".join(parts) + f" ({rule(df)})"


def plotly_figure(df: pd.DataFrame, col: str, xlabel: str, title: str = "", metric: str = "accuracy"):
    """The same panel as an interactive plotly figure (W&B renders it; hover shows every knob and
    the paired comparison)."""
    import plotly.graph_objects as go

    df = for_metric(df, metric)
    df = df[df["accuracy"].notna() & df[col].notna()]
    fig = go.Figure()
    for (strategy, v), grp in df.groupby([df["strategy"], df.apply(verdict, axis=1)], sort=False):
        acc = 100 * grp["accuracy"].astype(float)
        hover = [f"#{i} {knobs(r)}<br>{metric} {100 * r['accuracy']:.1f}% [{100 * r['accuracy_ci95_low']:.1f}, {100 * r['accuracy_ci95_high']:.1f}]"
                 f"<br>{comparison(r) or 'no baseline'}<br>mods {r['mean_modifications']:.2f}, fwd {r['mean_forwards']:.2f}<br>{r['job']}"
                 for i, r in grp.iterrows()]  # fmt: skip
        fig.add_trace(go.Scatter(  # plain lists: plotly would encode arrays as typed binary, which older plotly.js cannot read
            x=grp[col].astype(float).tolist(), y=acc.tolist(), mode="markers", name=f"{strategy} · {_verdict_words(v)}",
            legendgroup=str(strategy), hovertext=hover, hoverinfo="text",
            marker={"color": _css(color(strategy)), "symbol": PLOTLY_SYMBOLS[v], "size": 16 if v == "baseline" else 11 if v != "n.s." else 8,
                    "line": {"color": "black" if v in ("better", "worse") else "white", "width": 1}},
            error_y={"type": "data", "symmetric": False, "array": (100 * grp["accuracy_ci95_high"].astype(float) - acc).tolist(),
                     "arrayminus": (acc - 100 * grp["accuracy_ci95_low"].astype(float)).tolist(), "thickness": 1, "width": 0, "color": _css(color(strategy), 0.35)},
        ))  # fmt: skip
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=f"{METRICS[metric]} (%), 95% Wilson intervals", legend_title_text=f"strategy · vs baseline (exact McNemar, {rule(df)})")
    return fig


# ---- pieces of the PNG ---------------------------------------------------------------------------


def _panel(ax, df, col, acc, low, high, overlay, ref_col) -> None:
    cost = df[col].astype(float)
    ok = cost.notna() & acc.notna()
    if overlay is not None and ref_col in overlay:
        for strategy, grp in overlay.groupby("strategy"):
            star = is_default_baseline_strategy(strategy)
            ax.scatter(grp[ref_col], grp["accuracy_pct"], marker="*" if star else "o", s=220 if star else 30,
                       facecolors="none", edgecolors=color(strategy), linewidths=1.0, alpha=0.6, zorder=2)  # fmt: skip
    if "vs_baseline" in df:
        for i in df.index[(df["vs_baseline"] == "baseline") & ok]:
            ax.axhline(acc[i], ls=":", lw=1, color=color(df.at[i, "strategy"]), alpha=0.6, zorder=1)
    whole = df["complete"].fillna(True).astype(bool) if "complete" in df else pd.Series(True, index=df.index)
    front = pareto_front(cost[ok & ~pruned(df) & whole], acc[ok & ~pruned(df) & whole])  # incomplete rows saw fewer problems
    on = ok & ~pruned(df)
    ax.plot(cost[front], acc[front], ls="--", color="0.5", lw=1.1, drawstyle="steps-post", zorder=3)
    for strategy, grp in df[on].groupby("strategy", sort=False):
        idx = grp.index
        ax.errorbar(cost[idx], acc[idx], yerr=[acc[idx] - low[idx], high[idx] - acc[idx]], fmt="none", ecolor=color(strategy),
                    elinewidth=0.9, alpha=0.3 if len(df) > MAX_LABELS else 0.55, zorder=2)  # faint where many bars stand side by side  # fmt: skip
    here = _coincident(cost[ok], acc[ok])  # configurations drawn at the same place: bigger marker
    for (strategy, v), grp in df[ok].groupby([df["strategy"], df.apply(verdict, axis=1)], sort=False):
        idx = grp.index
        style = _marker_style(strategy, v)
        if v == "n.s.":
            style["s"] = [style["s"] * math.sqrt(len(here[i])) for i in idx]
        ax.scatter(cost[idx], acc[idx], **style)
    partial = df.index[ok & ~whole]  # incomplete rows: a dashed grey ring, off the Pareto line
    ax.scatter(cost[partial], acc[partial], s=260, facecolors="none", edgecolors="0.35", linestyles="--", linewidths=1.0, zorder=5)
    ax.grid(alpha=0.25)
    _at_least_a_quarter(ax, cost[ok])


def _at_least_a_quarter(ax, cost: pd.Series) -> None:
    """Widen the cost axis to at least a quarter of its level (or of 1): configurations at 5.37-5.49
    forwards would otherwise fill the panel and look far apart when they cost the same."""
    if cost.empty:
        return
    lo, hi = ax.get_xlim()
    centre = (float(cost.min()) + float(cost.max())) / 2
    span = 0.25 * max(abs(centre), 1.0)
    if hi - lo < span:
        left = max(centre - span / 2, 0.0) if float(cost.min()) >= 0 else centre - span / 2  # costs are counts: never below 0
        ax.set_xlim(left, left + span)


def _front_is_drawn(df: pd.DataFrame) -> bool:
    """Whether a panel draws a Pareto line (two or more points on its front), as _panel picks them."""
    acc = df["accuracy"].astype(float)
    whole = df["complete"].fillna(True).astype(bool) if "complete" in df else pd.Series(True, index=df.index)
    for col, *_ in PANELS:
        cost = df[col].astype(float) if col in df else pd.Series(float("nan"), index=df.index)
        ok = cost.notna() & acc.notna() & ~pruned(df) & whole
        if len(pareto_front(cost[ok], acc[ok])) >= 2:
            return True
    return False


def _coincident(cost: pd.Series, acc: pd.Series) -> dict:
    """{row: the rows drawn at exactly its place}."""
    groups: dict[tuple, list] = {}
    for i in cost.index:
        groups.setdefault((round(float(cost[i]), 9), round(float(acc[i]), 9)), []).append(i)
    return {i: members for members in groups.values() for i in members}


def _marker_style(strategy, v) -> dict:
    style = {"marker": MARKERS[v], "color": color(strategy), "zorder": 4}
    if v == "baseline":
        return {**style, "s": 320, "edgecolors": "gold", "linewidths": 1.2, "zorder": 6}
    if v in ("better", "worse"):
        return {**style, "s": 95, "edgecolors": "black", "linewidths": 1.0, "zorder": 5}
    if v == "pruned":
        return {**style, "s": 26, "linewidths": 1.0, "alpha": 0.6, "zorder": 3}
    return {**style, "s": 30, "edgecolors": "white", "linewidths": 0.5, "alpha": 0.8}


def _annotate(ax, df, cost, acc, labels) -> None:
    """`#i` next to each labelled point (`#i ×k` where k configurations share its place), placed where
    it covers the fewest other labels and markers, inside the panel; a label moved away from its point
    gets a leader line."""
    ok = cost.notna() & acc.notna()
    here = _coincident(cost[ok], acc[ok])
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    markers = [_box_around(ax.transData.transform((cost[i], acc[i])), 5) for i in df.index[ok]]
    placed, done = [], set()
    for i in labels:
        if i not in here or i in done:
            continue
        members = here[i]
        named = [j for j in labels if j in members]
        done.update(named)
        text = ",".join(f"#{j}" for j in named[:3]) + ("…" if len(named) > 3 else "") + (f" ×{len(members)}" if len(members) > 1 else "")
        best = None
        for dx, dy, ha, va in _OFFSETS:
            t = ax.annotate(text, (cost[i], acc[i]), xytext=(dx, dy), textcoords="offset points", ha=ha, va=va, fontsize=8.5, color="0.1",
                            zorder=7, bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                            arrowprops={"arrowstyle": "-", "color": "0.4", "lw": 0.6, "shrinkA": 0, "shrinkB": 4} if abs(dx) + abs(dy) > 20 else None)  # fmt: skip
            box = t.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            cost_of = (0 if inside else 1000) + 10 * sum(box.overlaps(b) for b in placed) + sum(box.overlaps(b) for b in markers)
            if best is None or cost_of < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost_of, t, box)
            else:
                t.remove()
            if cost_of == 0:
                break
        placed.append(best[2])


_OFFSETS = [(dx * r, dy * r, ha, va) for r in (1, 2, 3.5, 5, 7) for dx, dy, ha, va in
            ((6, 6, "left", "bottom"), (6, -6, "left", "top"), (-6, 6, "right", "bottom"), (-6, -6, "right", "top"),
             (0, 9, "center", "bottom"), (0, -9, "center", "top"))]  # fmt: skip


def _box_around(xy, r):
    from matplotlib.transforms import Bbox

    return Bbox.from_extents(xy[0] - r, xy[1] - r, xy[0] + r, xy[1] + r)


def _best_first(df, rows) -> list:
    """The baseline first, then by Δaccuracy (largest first), then the rest by accuracy."""
    def order(i):
        row = df.loc[i]
        delta = row.get("delta_accuracy")
        return (verdict(row) != "baseline", pd.isna(delta), -(delta if not pd.isna(delta) else 0), -row["accuracy"], i)

    return sorted(rows, key=order)


def _key(ax, df, rows, label: str = "accuracy", caption: str | None = None) -> None:
    """One line per labelled point: its id, knobs, the metric and its paired comparison; then the
    caption (what the other metric says), if any."""
    ax.axis("off")
    n = len(rows) + 1 + (len(df) > len(rows)) + (caption is not None)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, n)
    if caption is not None:
        ax.text(0.016, n - 1.5 - len(rows) - (len(df) > len(rows)), caption, family="monospace", fontsize=8.5, va="center", color="0.2")
    header = f"{'#  configuration':<43} {label[:10] + ' [95% Wilson]':<22} vs baseline: Δ {label} [95% paired bootstrap], exact McNemar p (raw, adjusted)"
    ax.text(0.016, n - 0.5, header, family="monospace", fontsize=8.5, va="center", color="0.35")
    for line, i in enumerate(rows, start=1):
        row, y = df.loc[i], n - 0.5 - line
        v = verdict(row)
        ax.scatter([0.006], [y], **{**_marker_style(row["strategy"], v), "s": 120 if v == "baseline" else 45, "clip_on": False})
        acc = f"{100 * row['accuracy']:5.1f}% [{100 * row['accuracy_ci95_low']:.1f}, {100 * row['accuracy_ci95_high']:.1f}]"
        ax.text(0.016, y, f"#{i:<4}{knobs(row):<38} {acc:<22} {comparison(row)}", family="monospace", fontsize=8.5, va="center",
                color=color(row["strategy"]))  # fmt: skip
    rest = df.index.difference(rows)
    if len(rest):
        significant = int(df.loc[rest].apply(verdict, axis=1).isin(["better", "worse"]).sum())
        ax.text(0.016, 0.5, f"... {len(rest)} more configurations without a label{f' ({significant} of them significant)' if significant else ''}: "
                "sweep_results.csv has every row; in W&B, hover over a point", family="monospace", fontsize=8.5, va="center", color="0.35")  # fmt: skip


def _legend_handles(df, overlay) -> tuple[list, list]:
    """(one handle per strategy colour, one per mark)."""
    from matplotlib.lines import Line2D

    strategies = [s for s in COLORS if s in set(df["strategy"])] + sorted(set(df["strategy"]) - set(COLORS))
    colours = [Line2D([], [], ls="", marker="s", ms=8, color=color(s), label=s) for s in strategies]
    marks = [Line2D([], [], ls="", marker="*", ms=14, mfc="0.3", mec="gold", label="baseline")]
    test = rule(df)
    marks.append(Line2D([], [], ls="", marker="^", ms=8, mfc="0.55", mec="black", label=f"better than baseline ({test})"))
    marks.append(Line2D([], [], ls="", marker="v", ms=8, mfc="0.55", mec="black", label=f"worse than baseline ({test})"))
    marks.append(Line2D([], [], ls="", marker="o", ms=6, mfc="0.55", mec="white", label="not significant (bigger: ×k at one place)"))
    marks.append(Line2D([], [], color="0.5", lw=1, marker="_", ms=8, label="95% Wilson interval"))
    if _front_is_drawn(df):  # a front of one point is no line: no legend entry for it
        marks.append(Line2D([], [], ls="--", color="0.5", label="Pareto front"))
    if pruned(df).any():  # in the strategies' row, which has room
        colours.append(Line2D([], [], ls="", marker="x", ms=6, color="0.4", label="pruned trial (fewer problems)"))
    if "complete" in df and (df["complete"] == False).any():
        colours.append(Line2D([], [], ls="", marker="o", ms=12, mfc="none", mec="0.35", label="incomplete (fewer problems, off the front)"))
    if overlay is not None:
        marks.append(Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", label="published (hollow)"))
    return colours, marks


def _verdict_words(v: str) -> str:
    return {"baseline": "baseline", "better": "better", "worse": "worse", "pruned": "pruned trial"}.get(v, "n.s.")


def remasks(row) -> bool:
    """Whether the row's strategy remasks (T2M): C_max and ρ_max apply. From the policy registry; a
    strategy this process does not know (a plugin it could not import) shows its caps."""
    from t2m.decoding.registry import STRATEGIES

    s = STRATEGIES.get(row["strategy"])
    return s is None or s.remasks


def edits(row) -> bool:
    """Whether the row's strategy has an edit phase at all (`none` has not, so τ means nothing)."""
    from t2m.decoding.registry import STRATEGIES

    s = STRATEGIES.get(row["strategy"])
    return s is None or s.detect is not None


def _num(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def _p(p: float) -> str:
    return f"{p:.2g}" if p < 0.01 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def _css(name: str, alpha: float = 1.0) -> str:
    from matplotlib.colors import to_rgba

    r, g, b, _ = to_rgba(name)
    return f"rgba({round(255 * r)}, {round(255 * g)}, {round(255 * b)}, {alpha})"
