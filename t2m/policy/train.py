"""Train a learned unmasking policy (t2m/decoding/learned.py) with REINFORCE, the dLLM as environment.

    python -m t2m.policy.train --out outputs/policy --steps 150
    python -m t2m.policy.train --out outputs/policy --steps 150 --resume           # after an interruption
    python -m t2m.policy.train --out outputs/policy --steps 150 --resume --export my-policy.pt

Each step draws `--problems` problems of the bundled `arith` training stream (never an evaluation
question) and decodes each `--samples` times with the policy exploring: each masked position is
committed with probability sigmoid(logit), from the row's seeded uniforms. A rollout's reward is
correctness minus `--forward-cost` per forward pass; its advantage is the reward minus the mean of
the other samples of the same problem (a leave-one-out baseline), and the loss is minus the
advantage times the log-probability of the rollout's commit decisions. Block lengths alternate
through `--block-lengths`, so one policy serves short blocks and the whole generation.

Every step's problems and exploration are a pure function of (seed, step), so `--resume` (from the
state saved every `--save-every` steps) continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from t2m.data import build_prompt
from t2m.data.arith import TEMPLATE, eval_questions, training_stream
from t2m.decoding import DecodeConfig, decode, load_model
from t2m.decoding import learned
from t2m.scoring import is_correct

STATE = "state.pt"


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m t2m.policy.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="folder for the training state, the policy and its log")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--problems", type=int, default=8, help="problems per step")
    ap.add_argument("--samples", type=int, default=4, help="rollouts per problem (>= 2: the baseline is the others' mean)")
    ap.add_argument("--block-lengths", default="32,64", help="comma-separated; step i decodes with the (i mod n)-th")
    ap.add_argument("--forward-cost", type=float, default=0.02, help="reward lost per forward pass")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save-every", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default=None, help="checkpoint to train against (default: the bundled model)")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    ap.add_argument("--export", default=None, help="also write the final policy file here")
    args = ap.parse_args(argv)
    blocks = [b for b in args.block_lengths.split(",") if b]
    if not blocks or not all(b.isdigit() and int(b) > 0 for b in blocks):
        ap.error(f"--block-lengths={args.block_lengths!r} is invalid; allowed: positive integers separated by commas")
    args.block_lengths = [int(b) for b in blocks]
    for name, low in (("steps", 1), ("problems", 1), ("samples", 2), ("save_every", 1), ("threads", 1), ("width", 4)):
        if getattr(args, name) < low:
            ap.error(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid; allowed: an integer >= {low}")
    if args.width % 4:
        ap.error(f"--width={args.width} is invalid; allowed: a multiple of 4 (4 attention heads)")
    return args


class Trainer:
    """The policy, its optimizer and the environment (model, gen length, rewards)."""

    def __init__(self, args, lm):
        self.args, self.lm = args, lm
        torch.manual_seed(args.seed)
        self.net = learned.UnmaskingNet(width=args.width).double()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=args.lr)
        self.step = 0
        self.exclude = eval_questions()
        self.gen_length = 64

    def state(self) -> dict:
        return {"step": self.step, "net": self.net.state_dict(), "opt": self.opt.state_dict(), "args": _settings(self.args)}

    def restore(self, state: dict) -> None:
        if state["args"] != _settings(self.args):
            changed = sorted(k for k in state["args"] if state["args"][k] != _settings(self.args).get(k))
            raise ValueError(f"--resume with other settings than the saved run ({', '.join(changed)}); allowed: the same settings, or a new --out")
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.step = state["step"]

    def train_step(self, policy_file: Path) -> dict:
        """One REINFORCE update; returns the step's figures."""
        a, step = self.args, self.step
        problems = training_stream(a.seed, step, a.problems, self.exclude)
        prompts = [build_prompt(p, TEMPLATE, self.lm.tokenizer) for p in problems for _ in range(a.samples)]
        block = a.block_lengths[step % len(a.block_lengths)]
        base_seed = (a.seed * 1_000_003 + step) * 1_000 % (2**40)  # each rollout's own exploration stream
        configs = [DecodeConfig(unmasking="learned", unmasking_path=str(policy_file), strategy="none", block_length=block,
                                gen_length=self.gen_length, seed=base_seed + i) for i in range(len(prompts))]  # fmt: skip
        with learned.exploring(policy_file, self.net) as policy:
            results = decode(self.lm, prompts, configs)
        correct = torch.tensor([float(is_correct(self.lm.tokenizer.decode(r.tokens), problems[i // a.samples].gold))
                                for i, r in enumerate(results)], dtype=torch.float64)  # fmt: skip
        forwards = torch.tensor([r.forwards for r in results], dtype=torch.float64)
        reward = (correct - a.forward_cost * forwards).view(a.problems, a.samples)
        others = (reward.sum(1, keepdim=True) - reward) / (a.samples - 1)
        advantage = (reward - others).flatten()

        log_prob = torch.zeros(len(prompts), dtype=torch.float64)
        for seeds, feats, masked, chosen in policy.trace:
            logits = self.net(feats)
            decided = torch.where(chosen, torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits))
            log_prob = log_prob.index_add(0, seeds - base_seed, (decided * masked).sum(1))
        loss = -(advantage * log_prob).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step += 1
        return {"step": self.step, "block": block, "accuracy": correct.mean().item(), "forwards": forwards.mean().item(),
                "reward": reward.mean().item(), "loss": loss.item()}  # fmt: skip


def _settings(args) -> dict:
    """The arguments a resumed run must share with the saved one (not --steps, --resume, --export, --threads)."""
    keep = ("problems", "samples", "block_lengths", "forward_cost", "lr", "width", "seed", "model")
    return {k: getattr(args, k) for k in keep}


def main(argv=None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    try:
        if not args.resume and (out / STATE).exists():
            raise ValueError(f"--out={args.out!r} already holds a training state; allowed: --resume, or a new --out")
        if args.resume and not (out / STATE).exists():
            raise ValueError(f"--resume: {out / STATE} does not exist; allowed: the --out of an earlier run")
        lm = load_model(args.model)
        trainer = Trainer(args, lm)
        if args.resume:
            trainer.restore(torch.load(out / STATE, map_location="cpu", weights_only=True))
    except ValueError as e:
        print(f"t2m.policy.train: {e}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    policy_file = out / "policy.pt"
    learned.save(trainer.net, policy_file)  # the file the rows name; exploring() swaps in the live net
    log_file = out / "log.jsonl"
    kept = [line for line in (log_file.read_text().splitlines() if log_file.exists() else []) if json.loads(line)["step"] <= trainer.step]
    log_file.write_text("".join(line + "\n" for line in kept))  # steps after the last saved state are redone
    log = log_file.open("a")
    bar = tqdm(total=args.steps, initial=trainer.step, desc="policy", unit="step")
    started = time.time()
    while trainer.step < args.steps:
        figures = trainer.train_step(policy_file)
        log.write(json.dumps(figures) + "\n")
        log.flush()
        bar.update(1)
        bar.set_postfix(acc=f"{figures['accuracy']:.2f}", fwd=f"{figures['forwards']:.1f}", reward=f"{figures['reward']:.3f}")
        if trainer.step % args.save_every == 0 or trainer.step == args.steps:
            _save_state(out, trainer)
    bar.close()
    info = {"steps": trainer.step, **_settings(args), "trained_s": round(time.time() - started, 1)}
    learned.save(trainer.net, policy_file, info)
    if args.export:
        learned.save(trainer.net, args.export, info)
    print(f"policy: {policy_file}" + (f" and {args.export}" if args.export else ""))
    return 0


def _save_state(out: Path, trainer: Trainer) -> None:
    tmp = out / f"{STATE}.tmp"
    torch.save(trainer.state(), tmp)
    os.replace(tmp, out / STATE)


if __name__ == "__main__":
    raise SystemExit(main())
