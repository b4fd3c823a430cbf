"""The report room: what is computed from a sweep's stored samples and shown to the user.

    table.py       one row per configuration, the printed summary, the files a sweep writes
    paired.py      each row against its baseline (exact McNemar, paired bootstrap, repair counts)
    baseline.py    the `baseline=` key: which configuration the others are compared with
    plot.py        the cost-versus-accuracy figure (PNG and W&B)
    trajectory.py  decoding trajectories: the records a run stores and their pictures
    notes.py       warning lines about the data under the numbers (duplicates, truncation)
    cli.py         the `python -m t2m.report` command

`from t2m.pipeline import report` gives the table's functions (build, collect, describe, ...) and the
command's `main`, as before the room was a folder.
"""

from t2m.pipeline.report.cli import main
from t2m.pipeline.report.table import (
    LEAD_COLUMNS, PLOT_PNG, REPAIR_CSV, TABLE_CSV, TABLE_PARQUET, build, collect, config_correction, describe, newest_sweep, read_overlay,
    sweep_baseline, sweep_correction, table, title,
)  # fmt: skip

__all__ = ["LEAD_COLUMNS", "PLOT_PNG", "REPAIR_CSV", "TABLE_CSV", "TABLE_PARQUET", "build", "collect", "config_correction", "describe", "main",
           "newest_sweep", "read_overlay", "sweep_baseline", "sweep_correction", "table", "title"]  # fmt: skip
