"""Benchmarks that print figures (ratios measured side by side in one run), never timed tests.

    python -m t2m.bench [...]                  the decoder, batched against one row at a time (`decoder.py`)
    python -m t2m.bench --scale llada2_1_mini  the decoder at LLaDA2.1-mini's shape on a GPU (`scale.py`);
                        --scale tiny           the same code path on CPU
    python -m t2m.bench packing [...]          many configurations' rows in one batch against one configuration's (`packing.py`)
    python -m t2m.bench sweep [...]            a named sweep packed against one configuration per job, locally and on SLURM (`sweep.py`)
    python -m t2m.bench.search                 the paper's grid against Optuna searches of its space: work and hypervolume (`search.py`)
    python -m t2m.bench.demo                   the paper's grid against T2T on the bundled demo, paired, with a random-remask control (`demo.py`)
"""
