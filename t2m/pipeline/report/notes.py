"""Warning lines about the data under a sweep's numbers, printed with the table (and by the task as
each configuration finishes):

    duplicates   a dataset whose problems include duplicates (left out: n counts distinct problems)
    truncation   configurations with more than 1% of answers cut off by gen_length (no EOS)
"""

from __future__ import annotations

import pandas as pd

# More truncated answers than this share gets a warning: cut-off answers fall on long-output
# configurations (heavy remasking), so they bias the comparison, not only lower the accuracy.
TRUNCATED_SHARE = 0.01


def duplicates_line(name: str, duplicates: int) -> str:
    """The one warning line for a dataset with duplicate problems (at run start and in the report)."""
    return (f"dataset {name}: {duplicates} problem{'s' * (duplicates != 1)} duplicate{'s' * (duplicates == 1)} others "
            f"(the same question once names and spacing are ignored) and {'are' if duplicates != 1 else 'is'} left out: "
            f"n counts distinct problems")  # fmt: skip


def truncated_line(who: str, truncated: int, n: int, gen_length) -> str:
    """The task's warning line for one configuration with too many truncated answers."""
    return (f"{who}: {truncated} of {n} answers ({100 * truncated / n:.1f}%) are truncated (filled gen_length={gen_length} "
            f"without EOS); raise gen_length")  # fmt: skip


def data_warnings(df: pd.DataFrame) -> list[str]:
    return duplicates_lines(df) + truncation_lines(df)


def duplicates_lines(df: pd.DataFrame) -> list[str]:
    """One line per dataset that had duplicates left out (summaries before issue 24 say nothing)."""
    if "n_duplicates" not in df or "dataset" not in df:
        return []
    lines = []
    for name, rows in df[df["n_duplicates"].fillna(0) > 0].groupby("dataset", sort=True):
        lines.append(duplicates_line(name, int(rows["n_duplicates"].max())))
    return lines


def truncation_lines(df: pd.DataFrame) -> list[str]:
    """One line naming every configuration with more than TRUNCATED_SHARE of its answers truncated."""
    if "n_truncated" not in df:
        return []
    share = df["n_truncated"].fillna(0) / df["n"].where(df["n"] > 0)
    over = df[share > TRUNCATED_SHARE]
    if over.empty:
        return []
    named = ", ".join(f"#{i} {r['strategy']} ({int(r['n_truncated'])}/{int(r['n'])})" for i, r in over.iterrows())
    return [f"{len(over)} configuration{'s' * (len(over) != 1)} with more than {TRUNCATED_SHARE:.0%} of answers truncated "
            f"(filled gen_length without EOS; column n_truncated): {named}; raise gen_length"]  # fmt: skip
