"""Run `python -m t2m.sweep` with a fault injected at a chosen call, as a separate process.

    python inject.py MODULE:ATTR WHEN:N ACTION -- ARGS...

calls ACTION right before or after (WHEN = before | after) the N-th call of MODULE.ATTR (a function,
or a method as Class.method), then goes on as `python -m t2m.sweep ARGS`. Actions:

    kill           SIGKILL this process (a crash, an OOM kill, a pre-empted node)
    int            SIGINT this process (Ctrl-C)
    pause:FILE     write FILE.ready, then wait until FILE exists (holds the process at that point so a
                   test can start a second one)
    torn:N         write only N bytes of what `ATTR`'s first argument names, then SIGKILL (a kill in
                   the middle of writing a file; for writers called with a path first, e.g. savefig)

Everything else is the real command: the real config, model, store, W&B and report.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import sys
import time
from pathlib import Path


def act(action: str, args: tuple) -> None:
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "int":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the KeyboardInterrupt arrives at the next bytecode; never get past here without it
    elif action.startswith("pause:"):
        gate = Path(action.split(":", 1)[1])
        Path(f"{gate}.ready").write_text(str(os.getpid()))
        while not gate.exists():
            time.sleep(0.05)
    elif action.startswith("torn:"):
        n = int(action.split(":", 1)[1])
        target = Path(str(args[1] if len(args) > 1 and isinstance(args[1], (str, os.PathLike)) else args[0]))
        target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * n)
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        raise SystemExit(f"inject.py: unknown action {action!r}")


def patch(target: str, when: str, action: str) -> None:
    module_name, attr = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    original = getattr(owner, name)
    moment, n = when.split(":")
    calls = {"n": 0}

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        hit = calls["n"] == int(n)
        if hit and moment == "before":
            act(action, args)
        out = original(*args, **kwargs)
        if hit and moment == "after":
            act(action, args)
        return out

    setattr(owner, name, wrapper)


if __name__ == "__main__":
    target, when, action, sep, *rest = sys.argv[1:]
    assert sep == "--", "usage: inject.py MODULE:ATTR WHEN:N ACTION -- ARGS..."
    patch(target, when, action)
    sys.argv = ["t2m.sweep", *rest]
    from t2m.pipeline.cli import main

    main()
