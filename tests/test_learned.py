"""The learned unmasking policy (t2m/decoding/learned.py) and its trainer (t2m/policy/train.py):
a training step moves the parameters reproducibly, resume is exact, batched == one at a time, and a
bad policy file is refused in one line."""

from __future__ import annotations

import pytest
import torch

from t2m import DecodeConfig, decode
from t2m.data import PROMPT_TEMPLATES, build_prompt, load_problems
from t2m.decoding import learned
from t2m.policy import train

TINY = ["--problems", "2", "--samples", "2", "--block-lengths", "32,64"]


def params(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def one_step(bundled, tmp_path, seed):
    trainer = train.Trainer(train.parse(["--out", str(tmp_path), "--seed", str(seed), *TINY]), bundled)
    before = params(trainer.net)
    tmp_path.mkdir()
    learned.save(trainer.net, tmp_path / "policy.pt")
    figures = trainer.train_step(tmp_path / "policy.pt")
    return before, params(trainer.net), figures


def test_a_training_step_moves_the_parameters_reproducibly(bundled, tmp_path):
    before, after, figures = one_step(bundled, tmp_path / "a", seed=0)
    _, again, figures_again = one_step(bundled, tmp_path / "b", seed=0)
    assert figures["loss"] != 0  # the rollouts differ in reward (seed 0 of this tiny case), so there is a gradient
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(after[k], again[k]) for k in after) and figures == figures_again
    assert 0 <= figures["accuracy"] <= 1 and figures["forwards"] >= 1


def test_resume_is_exact(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train.main(["--out", str(straight), "--steps", "2", "--save-every", "1", *TINY]) == 0
    assert train.main(["--out", str(split), "--steps", "1", *TINY]) == 0
    assert train.main(["--out", str(split), "--steps", "2", "--resume", *TINY]) == 0
    a, b = (torch.load(d / train.STATE, weights_only=True) for d in (straight, split))
    assert a["step"] == b["step"] == 2 and all(torch.equal(a["net"][k], b["net"][k]) for k in a["net"])
    assert (straight / "log.jsonl").read_text() == (split / "log.jsonl").read_text()


def test_trainer_refuses_bad_arguments(tmp_path, capsys):
    assert train.main(["--out", str(tmp_path / "none"), "--resume", *TINY]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train.parse(["--out", "x", "--samples", "1"])


def test_batched_equals_one_at_a_time(bundled, tmp_path):
    torch.manual_seed(0)
    net = learned.UnmaskingNet()
    with torch.no_grad():
        for p in net.head.parameters():  # a policy whose transformer matters
            p.normal_(0, 0.5)
    learned.save(net, tmp_path / "p.pt")
    problems = load_problems("arith100", limit=6)
    prompts = [build_prompt(p, PROMPT_TEMPLATES["arith100"], bundled.tokenizer) for p in problems]
    configs = [DecodeConfig(unmasking="learned", unmasking_path=str(tmp_path / "p.pt") if i % 3 else None, strategy=("none", "lowprob")[i % 2],
                            gen_length=64, block_length=(32, 64)[(i // 2) % 2]) for i in range(6)]  # fmt: skip
    key = lambda r: (r.tokens, r.forwards, r.remasks, r.steps_per_block)  # noqa: E731
    batched = decode(bundled, prompts, configs, batch_size=6)
    alone = [decode(bundled, [p], c, batch_size=1)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]


def test_a_bad_policy_file_is_refused_in_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"unmasking_path='.*nope.pt' does not exist") as e:
        DecodeConfig(unmasking="learned", unmasking_path=str(tmp_path / "nope.pt"))
    assert "\n" not in str(e.value)
    (tmp_path / "junk.pt").write_bytes(b"not a policy")
    with pytest.raises(ValueError, match="is not a policy file") as e:
        DecodeConfig(unmasking="learned", unmasking_path=str(tmp_path / "junk.pt"))
    assert "\n" not in str(e.value)
    assert DecodeConfig(unmasking="threshold", unmasking_path=str(tmp_path / "nope.pt")).unmasking == "threshold"  # read only by `learned`


def test_the_command_line_names_a_missing_policy_file(tmp_path):
    import subprocess
    import sys

    from conftest import cli_env

    cmd = [sys.executable, "-m", "t2m.sweep", "unmasking=learned", "unmasking_path=no/such-policy.pt", "tracker=none", f"results_dir={tmp_path}/r"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path, timeout=120)
    last = proc.stderr.strip().splitlines()[-1]  # (Python warnings from other plugins may come before it)
    assert proc.returncode == 2 and last.startswith("t2m.sweep: unmasking_path=") and "such-policy.pt' does not exist" in last
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_rows_of_other_policies_never_load_their_path(bundled, tmp_path):
    """unmasking_path is read only by `learned`: a threshold row beside a learned one may name anything."""
    prompts = [build_prompt(p, PROMPT_TEMPLATES["arith100"], bundled.tokenizer) for p in load_problems("arith100", limit=2)]
    configs = [DecodeConfig(unmasking="learned", gen_length=64), DecodeConfig(unmasking_path=str(tmp_path / "nope.pt"), gen_length=64)]
    mixed = decode(bundled, prompts, configs)
    assert mixed[1].tokens == decode(bundled, prompts[1:], DecodeConfig(gen_length=64))[0].tokens
