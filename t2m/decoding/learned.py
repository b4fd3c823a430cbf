"""A learned unmasking policy: a one-layer transformer over the block's per-position confidences
decides which masked positions to commit (`unmasking=learned unmasking_path=policy.pt`).

At each step the network reads, for every position of the block, the features below and gives a
logit; decoding commits the masked positions with logit > 0, or else the single highest (every step
makes progress). `python -m t2m.policy.train` trains one with REINFORCE, driving this same registry
entry with `exploring()`: then each masked position is committed with probability sigmoid(logit),
drawn from the row's seeded uniforms, and the step is traced for the gradient.

The network starts as a soft version of the threshold rule (logit = slope * (p0 - offset), slope 15,
offset 0.7) plus the transformer's correction, zero at first; training moves both.
`unmasking_path: null` is the policy shipped beside the bundled model (t2m/tiny/unmasking-policy.pt),
trained for it on the `arith` training stream.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from t2m.decoding.registry import register_unmasking
from t2m.decoding.rules import most_confident

FORMAT = "t2m-unmasking-policy/1"
BUNDLED = Path(__file__).resolve().parent.parent / "tiny" / "unmasking-policy.pt"
FEATURES = ("p0", "masked", "position", "masked_share", "steps_share", "block_length")
EXPLORE_SALT = 7  # the uniform stream exploration draws from (independent of sampling's)


class UnmaskingNet(nn.Module):
    """Per-position commit logits [rows, block] from features [rows, block, len(FEATURES)]."""

    def __init__(self, width: int = 32, heads: int = 4):
        super().__init__()
        self.shape = {"width": width, "heads": heads}
        self.embed = nn.Linear(len(FEATURES), width)
        self.layer = nn.TransformerEncoderLayer(width, heads, dim_feedforward=2 * width, dropout=0.0, batch_first=True)
        self.head = nn.Linear(width, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.slope = nn.Parameter(torch.tensor(15.0))
        self.offset = nn.Parameter(torch.tensor(0.7))

    def forward(self, features):
        correction = self.head(self.layer(self.embed(features))).squeeze(-1)
        return self.slope * (features[..., 0] - self.offset) + correction


def features(v):
    """What the policy sees of one step ([rows, block, F], float64 so decisions do not depend on the batch)."""
    width = v.masked.shape[1]
    position = torch.arange(width, device=v.masked.device, dtype=torch.float64).expand(v.masked.shape) / width
    masked = v.masked.double()
    share = masked.mean(1, keepdim=True).expand_as(masked)
    steps = (v.step.double() / width).expand_as(masked)
    block = torch.full_like(masked, width / 64)  # large blocks call for more caution
    return torch.stack([v.p0.double(), masked, position, share, steps, block], dim=-1)


@dataclass
class Policy:
    net: UnmaskingNet
    explore: bool = False  # sample commits (training) instead of thresholding the logits
    trace: list = field(default_factory=list)  # while exploring: (seeds, features, masked, commits) per step


_LOADED: dict[str, tuple[tuple, Policy]] = {}
_NOT_MINE = object()  # the path of a row that uses another unmasking policy


def save(net: UnmaskingNet, path, info: dict | None = None) -> None:
    tmp = Path(f"{path}.tmp")
    torch.save({"format": FORMAT, "shape": net.shape, "features": list(FEATURES), "state": net.state_dict(), "info": info or {}}, tmp)
    os.replace(tmp, path)


def load(path) -> UnmaskingNet:
    """The network in a policy file, or a one-line ValueError naming what is wrong."""
    where = f"unmasking_path={str(path)!r}"
    if not Path(path).is_file():
        raise ValueError(f"{where} does not exist; allowed: a policy file written by python -m t2m.policy.train, or null for the bundled one")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(blob, dict) or blob.get("format") != FORMAT or blob.get("features") != list(FEATURES):
            raise ValueError(f"not a {FORMAT} file")
        net = UnmaskingNet(**blob["shape"]).double()
        net.load_state_dict(blob["state"])
    except Exception as e:  # a pickle, a truncated file, a state dict of another shape
        raise ValueError(f"{where} is not a policy file this t2m can read ({str(e).splitlines()[0][:120]}); "
                         f"allowed: a file written by python -m t2m.policy.train") from None  # fmt: skip
    return net.eval()


def policy_at(path) -> Policy:
    """The policy of a file, loaded once per process (again when the file changes)."""
    path = str(BUNDLED if path is None else path)
    stat = os.stat(path) if os.path.exists(path) else None
    stamp = (stat.st_mtime_ns, stat.st_size) if stat else None
    if path not in _LOADED or _LOADED[path][0] != stamp:
        _LOADED[path] = (stamp, Policy(load(path)))
    return _LOADED[path][1]


@contextlib.contextmanager
def exploring(path, net: UnmaskingNet):
    """Within the block, rows naming `path` sample their commits from `net` and trace them."""
    key = str(path)
    saved = _LOADED.get(key)
    policy = Policy(net, explore=True)
    _LOADED[key] = ((os.stat(key).st_mtime_ns, os.stat(key).st_size) if os.path.exists(key) else None, policy)
    try:
        yield policy
    finally:
        _LOADED.pop(key, None)
        if saved is not None:
            _LOADED[key] = saved


def check(config) -> None:
    policy_at(config.unmasking_path)


@register_unmasking("learned", check=check)
def learned(v):
    """A learned policy (t2m.policy.train): a one-layer transformer over the block's confidences commits masked positions with logit > 0; at least one."""
    mine_rows = [name == "learned" for name in v.setting("unmasking")]  # other rows' paths are never read
    paths = [p if m else _NOT_MINE for p, m in zip(v.setting("unmasking_path"), mine_rows)]
    fill = torch.zeros_like(v.masked)
    for path in sorted(set(paths) - {_NOT_MINE}, key=str):
        mine = torch.tensor([p == path for p in paths], device=v.masked.device)[:, None]
        fill |= _select(policy_at(path), v) & mine
    return fill


def _select(policy: Policy, v):
    seen = features(v)
    with torch.no_grad():
        logits = policy.net(seen.to(next(policy.net.parameters()).dtype)).double()
    if policy.explore:
        chosen = v.masked & (v.uniform(EXPLORE_SALT).double() < torch.sigmoid(logits))
    else:
        chosen = v.masked & (logits > 0)
    stuck = ~chosen.any(1, keepdim=True)
    fill = chosen | (most_confident(logits, v.masked, torch.ones_like(v.step)) & stuck)
    if policy.explore:
        policy.trace.append((torch.tensor(v.setting("seed")), seen, v.masked, chosen))  # exact ints: rows by seed
    return fill
