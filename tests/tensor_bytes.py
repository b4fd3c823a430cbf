"""Peak bytes of the tensors a piece of code allocates, on any device (CPU included): a dispatch
mode that sees every op's outputs and follows each new storage until it is freed."""

from __future__ import annotations

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class PeakTensorBytes(TorchDispatchMode):
    """`with PeakTensorBytes(*inputs) as m: ...` then `m.peak`: the most bytes of storages allocated
    inside the block that were alive at once (storages of `inputs`, and views of them, not counted).
    Memory a kernel uses internally and frees before returning is not seen."""

    def __init__(self, *inputs: torch.Tensor):
        super().__init__()
        self.live = self.peak = 0
        self._known = {t.untyped_storage().data_ptr() for t in inputs}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self._track(t.untyped_storage())
        return out

    def _track(self, storage) -> None:
        key, n = storage.data_ptr(), storage.nbytes()
        if n == 0 or key in self._known:
            return
        self._known.add(key)
        self.live += n
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key, n)

    def _free(self, key, n) -> None:
        self._known.discard(key)
        self.live -= n
