"""Decoding trajectories: stored next to their samples, drawn like the paper's Figure 5.

    trajectory=true | [id, ...]     record the events of every problem, or of these problems
    python -m t2m.report trajectory JOB_DIR --id ID [--vs OTHER_JOB_DIR] [--out PNG]

A trajectory is one line of `<store entry>/trajectories.jsonl`: the problem id, the prompt length,
the block length, the final tokens and the decoder's events (`t2m.decoding.decode(trajectory=...)`),
each {block, step, position, token, prob, event, text} with event `fill` (a mask committed, M2T),
`edit` (a committed token overwritten, T2T) or `remask` (a committed token reset to the mask, T2M; its
token is the one removed). Recording is off by default; the decoder does no trajectory work at all
for rows that did not ask for one.

The picture has one row per decoding step (blocks top to bottom, steps within a block) and one
column per position of a block: each cell shows the token at that position after the step, coloured
by what happened to it in that step.
"""

from __future__ import annotations

from pathlib import Path

from t2m.pipeline.store.entries import read_jsonl

TRAJECTORIES = "trajectories.jsonl"
COLOURS = {"fill": "#4C72B0", "edit": "#DD8452", "remask": "#C44E52", "kept": "#E8E8E8", "mask": "#FFFFFF", "prompt": "#B0B0B0"}


def trajectory_record(lm, problem_id: str, prompt: list[int], result, dcfg) -> dict:
    def text(token: int) -> str:
        return lm.tokenizer.decode([token]) if lm.tokenizer is not None else str(token)

    return {
        "id": problem_id,
        "prompt_length": len(prompt),
        "block_length": dcfg.block_length,
        "tokens": list(result.tokens),
        "events": [{**e, "text": text(e["token"])} for e in result.trajectory or []],
    }


def stored_ids(entry) -> set[str]:
    return {str(r.get("id")) for r in read_jsonl(Path(entry.path) / TRAJECTORIES)}


def load(job_dir: Path, problem_id: str, sample: int = 0) -> dict:
    """The trajectory of one problem (and sample) of a job directory; LookupError says what is there."""
    from t2m.pipeline.store.jobdir import entry_dirs

    entries = entry_dirs(job_dir)
    if not entries:
        raise LookupError(f"{job_dir} is not a job directory of the result store (no store.json)")
    if not 0 <= sample < len(entries):
        raise LookupError(f"--sample={sample} is out of range; {job_dir} has {len(entries)} sample(s) per problem")
    records = read_jsonl(entries[sample] / TRAJECTORIES)
    for r in records:
        if str(r.get("id")) == str(problem_id):
            return r
    have = ", ".join(sorted({str(r.get("id")) for r in records})[:8]) or "none"
    raise LookupError(f"{job_dir} holds no trajectory of problem {problem_id!r} (recorded: {have}); "
                      f"run the configuration again with trajectory=[{problem_id}] (its samples are reused)")  # fmt: skip


def grid(trajectory: dict) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(row labels, cell texts, cell kinds) with one row per (block, step) and one column per block
    position. A cell shows the token there after the step; a remasked cell shows the token removed."""
    width, prompt_length = trajectory["block_length"], trajectory["prompt_length"]
    by_step: dict[tuple[int, int], list[dict]] = {}
    for e in trajectory["events"]:
        by_step.setdefault((e["block"], e["step"]), []).append(e)
    labels, texts, kinds = [], [], []
    for block in sorted({b for b, _ in by_step}):
        start = (prompt_length // width + block) * width  # absolute position of the block's first column
        prompt = [start + c < prompt_length for c in range(width)]
        current: list[str | None] = [None] * width  # the token text at each column; None = masked
        for step in sorted(s for b, s in by_step if b == block):
            kind = ["prompt" if prompt[c] else ("mask" if current[c] is None else "kept") for c in range(width)]
            text = ["" if t is None else t for t in current]
            for e in by_step[(block, step)]:
                col = prompt_length + e["position"] - start
                kind[col], text[col] = e["event"], e["text"]
                current[col] = None if e["event"] == "remask" else e["text"]
            labels.append(f"b{block} s{step}")
            texts.append([_readable(t) for t in text])
            kinds.append(kind)
    return labels, texts, kinds


def draw(trajectory: dict, ax, title: str = "", max_rows: int | None = None) -> None:
    """One trajectory on a matplotlib axis."""
    import numpy as np
    from matplotlib.colors import ListedColormap

    labels, texts, kinds = grid(trajectory)
    if max_rows is not None:
        labels, texts, kinds = labels[:max_rows], texts[:max_rows], kinds[:max_rows]
    order = list(COLOURS)
    codes = np.array([[order.index(k) for k in row] for row in kinds]) if kinds else np.zeros((0, trajectory["block_length"]))
    ax.imshow(codes, cmap=ListedColormap([COLOURS[k] for k in order]), vmin=0, vmax=len(order) - 1, aspect="auto", interpolation="nearest")
    for r, row in enumerate(texts):
        for c, t in enumerate(row):
            if t:
                ax.text(c, r, t, ha="center", va="center", fontsize=6, color="white" if kinds[r][c] in ("fill", "remask") else "black")
    blocks = [label.split()[0] for label in labels]
    for r in range(1, len(blocks)):
        if blocks[r] != blocks[r - 1]:
            ax.axhline(r - 0.5, color="black", linewidth=1.2)
    ax.set_yticks(range(len(labels)), labels, fontsize=6)
    ax.set_xticks(range(0, trajectory["block_length"], 4))
    ax.set_xlabel("position in block")
    ax.set_title(title, fontsize=9)


def picture(trajectories: list[tuple[str, dict]], out: Path, max_rows: int | None = None) -> Path:
    """One trajectory, or several side by side (the same problem under several configurations), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rows = max(len(grid(t)[0]) for _, t in trajectories)
    rows = min(rows, max_rows) if max_rows else rows
    width = max(t["block_length"] for _, t in trajectories)
    fig, axes = plt.subplots(1, len(trajectories), figsize=(0.28 * width * len(trajectories) + 1.5, 0.22 * rows + 1.8), squeeze=False)
    for ax, (title, t) in zip(axes[0], trajectories):
        draw(t, ax, title, max_rows)
    handles = [Patch(facecolor=c, edgecolor="grey", label=k) for k, c in COLOURS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def counts(trajectory: dict) -> dict[str, int]:
    """How many events of each kind a trajectory holds."""
    out = {"fill": 0, "edit": 0, "remask": 0}
    for e in trajectory["events"]:
        out[e["event"]] += 1
    return out


def _readable(text: str) -> str:
    if text.startswith("<|") and text.endswith("|>"):
        return text[2:-2].upper()[:4]  # special tokens: <|eos|> -> EOS
    return text.replace("\n", "⏎").strip()[:5]
