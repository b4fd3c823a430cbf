"""A Hydra sweeper that runs the union of several grids: the paper's ablation in one command.

Hydra's basic sweeper runs one Cartesian product of the command line's comma lists. The paper's
ablation is not one product (each detector has its own tau values, and the T2T baseline has no
C_max or rho_max), so a named sweep lists its grids in `hydra.sweeper.grids`:

    hydra:
      sweeper:
        grids:
          t2t_baseline: {strategy: t2t, tau: 0.5}
          lowprob: {strategy: lowprob, tau: "0.1,0.3,0.5,0.7,0.9", c_max: "1,3,5", rho_max: "0.25,0.5,1.0"}

Each grid is expanded like a command line; every override actually given on the command line is
applied to every grid (replacing that key where the grid sets it); the union is run in grid order.
With no grids this is exactly the basic sweeper. Before anything is launched (before the sweep
directory exists), every job's config is composed once and checked like a single run's (values, keys,
dataset file, model directory, results directories: `t2m.pipeline.checks.preflight`), so a bad input stops the
sweep with one line before a model loads or a file is written; jobs whose composed configs are
identical (e.g. `strategy=t2t` and `strategy=t2t tau=0.5`) run once. The device a job asks for is
checked here only when the launcher runs jobs on this host: a GPU sweep is submitted to SLURM from a
CPU-only login node, and each job checks its GPU on the node it lands on.

Unlike the basic sweeper, a configuration that failed does not end the sweep: its FAILED JobReturn is
recorded (`t2m.pipeline.launchers.outcomes`), the other configurations go on, the table and plot are written
from them, and the sweep ends with one line naming the incomplete configurations and the command that
resumes them.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf, open_dict

from t2m.pipeline.report import baseline

from t2m.pipeline.checks import composed

from t2m.pipeline.launchers import outcomes
from t2m.pipeline.checks.preflight import preflight
from t2m.pipeline.checks.validate import ConfigError, check
from t2m.pipeline.paths import absolute

log = logging.getLogger(__name__)


def grid_overrides(grid: Mapping[str, Any]) -> list[str]:
    """A grid from YAML as command-line overrides: `tau: 0.1,0.3` or `tau: [0.1, 0.3]` -> `tau=0.1,0.3`."""
    out = []
    for key, value in grid.items():
        values = list(value) if isinstance(value, (list, tuple)) or OmegaConf.is_list(value) else [value]
        out.append(f"{key}={','.join(baseline.override_value(v) for v in values)}")
    return out


def expand(cli: Sequence[Override], grids: Sequence[Sequence[Override]]) -> list[list[str]]:
    """The job override lists of the union of `grids`, each combined with the command line `cli`."""
    cli_axes = _axes(cli)
    if not grids:
        return _product(cli_axes)
    jobs = []
    for grid in grids:
        axes = _axes(grid)
        axes.update(cli_axes)  # the command line wins over a grid's value for the same key
        jobs += _product(axes)
    return unique(jobs)


def unique(jobs: Sequence[Sequence[str]]) -> list[list[str]]:
    """Drop repeated override lists (order of overrides within a job does not matter)."""
    seen, out = set(), []
    for job in jobs:
        key = tuple(sorted(job))
        if key not in seen:
            seen.add(key)
            out.append(list(job))
    return out


class UnionSweep:
    """The union-of-grids behaviour, mixed into Hydra's BasicSweeper as the plugin
    `hydra_plugins.t2m_union_sweeper.UnionSweeper` (Hydra re-imports its own plugin modules while
    it scans for plugins, so the combined class is made there, against the BasicSweeper it uses)."""

    def __init__(self, max_batch_size: int | None = None, params: dict | None = None, grids: dict | None = None):
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.grids = dict(grids or {})

    def sweep(self, arguments: list[str]) -> Any:
        """BasicSweeper.sweep (multirun.yaml, batches, launching), except that failed configurations
        are recorded instead of raised, so the others still reach the table and plot."""
        outcomes.reset()
        try:
            params_conf = self._parse_config()
            params_conf.extend(arguments)
            parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
            self.overrides = self.split_arguments(parser.parse_overrides(params_conf), self.max_batch_size)
            sweep_dir = Path(self.config.hydra.sweep.dir)
            sweep_dir.mkdir(parents=True, exist_ok=True)
            OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
            returns, initial_job_idx = [], 0
            while not self.is_done():
                batch = self.get_job_batch()
                results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
                outcomes.record(results)
                initial_job_idx += len(batch)
                returns.append(results)
            return returns
        finally:
            composed.forget()

    # BasicSweeper's batching calls these two.
    def split_arguments(self, overrides: list[Override], max_batch_size: int | None) -> list[list[list[str]]]:
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        grids = [parser.parse_overrides(grid_overrides(g)) for g in self.grids.values()]
        jobs = self._compose_and_check(expand(overrides, grids))
        n = len(jobs) if max_batch_size in (None, -1) else max_batch_size
        return [jobs[i : i + n] for i in range(0, len(jobs), n)]

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Nothing left to check: split_arguments has composed and checked every job already."""

    def _compose_and_check(self, jobs: list[list[str]]) -> list[list[str]]:
        kept, rows = self._unique(jobs)
        dropped = len(jobs) - len(kept)
        named = f" from {len(self.grids)} grids" if self.grids else ""
        log.info(f"Sweep: {len(kept)} configurations{named}" + (f" ({dropped} duplicates dropped)" if dropped else ""))
        # The sweep's configurations are compared with its baseline: run it too where it is missing.
        spec = baseline.parse(rows[0][1].get("baseline")) if rows else None
        added, added_rows = self._unique(baseline.missing_jobs(spec, [(j, r) for j, (r, _) in zip(kept, rows)]))
        added = [job for job, (row, _) in zip(added, added_rows) if baseline.matches(row, spec)]  # composed as meant
        if added:
            log.info(f"Sweep: + {len(added)} baseline configuration(s) to compare with: {'; '.join(' '.join(a) for a in added)}")
        return added + kept

    def _unique(self, jobs: list[list[str]]) -> tuple[list[list[str]], list[tuple[dict, DictConfig]]]:
        """Compose and check every job; drop the ones that compose like an earlier one."""
        seen, kept, rows = set(), [], []
        here = getattr(self.launcher, "_EXECUTOR", None) != "slurm"  # submitit's SLURM launchers (hydra's and t2m's) run jobs elsewhere
        for job in jobs:
            cfg = composed.sweep_config(self.hydra_context.config_loader, self.config, job)  # the launcher reuses it
            check(cfg, here=here)
            preflight(cfg, absolute(self.config.hydra.sweep.dir))  # cached: the dataset and model are read once
            with open_dict(cfg):
                del cfg["hydra"]  # job numbers and output dirs differ by construction
            body = OmegaConf.to_container(cfg, resolve=True)
            identity = json.dumps(body, sort_keys=True, default=str)
            if identity not in seen:
                seen.add(identity)
                kept.append(job)
                rows.append((baseline.flat_row(cfg), cfg))
        return kept, rows


def _axes(overrides: Sequence[Override]) -> "OrderedDict[str, list[str]]":
    axes: OrderedDict[str, list[str]] = OrderedDict()
    for o in overrides:
        key = o.get_key_element()
        name = key.lstrip("+~")  # `+x=1` on the command line replaces `x` from a grid
        if o.is_sweep_override() and not o.is_discrete_sweep():
            raise ConfigError(f"{o.input_line} cannot be swept by listing its values; allowed: a,b,c, range(), choice(), glob()")
        if o.is_sweep_override():
            axes[name] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            axes[name] = [f"{key}={o.get_value_element_as_str()}"]
    return axes


def _product(axes: Mapping[str, list[str]]) -> list[list[str]]:
    return [list(job) for job in itertools.product(*axes.values())]
