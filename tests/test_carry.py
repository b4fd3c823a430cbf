"""The carry-chain task (t2m.data.carry): its splits, its targets, and training on it."""

import json
import re

import pytest

from t2m.data import carry, dataset, load_problems
from t2m.data.arith import number_set
from t2m.pipeline import control

EQUATION = re.compile(r"(\d+) ([+-]) (\d+) = (\d+)\.")


@pytest.fixture(scope="module")
def splits():
    return carry.eval_splits()


def test_splits_are_frozen_distinct_and_registered(splits):
    dev, test = splits["carry_dev"], splits["carry_test"]
    assert len(dev) == len(test) == carry.SPLIT_SIZE
    sets = [number_set(p.question) for p in dev + test]
    assert len(set(sets)) == len(sets)  # one number set per problem, within and across the two splits
    assert carry.eval_splits() == splits  # a pure function of the seeds
    for name in splits:
        problems = load_problems(name)
        assert [p.question for p in problems] == [p.question for p in splits[name]]
        assert dataset(name).gen_length == carry.GEN_LENGTH


def test_targets_compute_their_chain_and_every_value_is_two_digit(splits):
    for p in splits["carry_dev"] + splits["carry_test"]:
        steps = EQUATION.findall(p.target)
        assert len(steps) == 2
        (a, op1, b, mid), (mid2, op2, c, end) = steps
        assert mid == mid2 and p.question.startswith(p.question.split(" has ")[0] + f" has {a} ")
        assert int(mid) == (int(a) + int(b) if op1 == "+" else int(a) - int(b))
        assert int(end) == (int(mid) + int(c) if op2 == "+" else int(mid) - int(c))
        assert all(10 <= int(v) <= 99 for v in (mid, end)) and p.gold == end
        assert p.target.endswith(f"\nThe answer is {end}.")


def test_every_problem_fits_64_tokens_and_its_answer_the_generation_length(splits):
    from t2m.tiny.tokenizer import build_tokenizer
    from t2m.tiny.train import encode_samples

    tok = build_tokenizer()
    problems = splits["carry_dev"][:200] + carry.training_stream(0, 0, 64, frozenset())
    ids, prompt_lens = encode_samples(problems, tok, 64)  # raises if one needs more than 64 tokens
    assert tok.unk_token_id not in ids.flatten().tolist()
    answer_lens = [len(tok.encode(p.target, add_special_tokens=False)) + 1 for p in problems]  # and EOS
    assert max(answer_lens) <= carry.GEN_LENGTH


def test_training_never_sees_an_evaluation_question():
    held = carry.eval_questions()
    seen = {p.question for step in range(300) for p in carry.training_stream(0, step, 32, held)}
    assert len(held) == 2 * carry.SPLIT_SIZE and not seen & held


def test_the_held_out_split_calibrates_its_controls_on_the_dev_split(splits):
    assert control.calibration_problems("carry_test", []) == splits["carry_dev"][: control.CALIBRATION_PROBLEMS]
    assert control.calibration_problems("carry_dev", splits["carry_dev"]) == splits["carry_dev"][: control.CALIBRATION_PROBLEMS]


def test_training_on_carry_chains_runs_and_lowers_the_loss(tmp_path):
    from t2m.tiny import train

    tiny = ["--hidden", "32", "--layers", "1", "--heads", "2", "--intermediate", "64", "--batch-size", "16",
            "--lr", "1e-2", "--warmup", "5", "--val-size", "32", "--threads", "1"]
    train.main(["--out", str(tmp_path), "--task", "carry", "--seq-len", "64", "--steps", "30", "--eval-every", "30", *tiny])
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert sum(r["loss"] for r in log[-5:]) < 0.8 * sum(r["loss"] for r in log[:5])


def test_the_bundled_carry_model_repairs_what_t2t_gets_wrong():
    """model=tiny_carry on carry_test with sweep=carry's settings: T2T near its recorded 89.3%, and
    LowProb tau 0.9 fixing many more of T2T's answers than it breaks (recorded: 22 fixed, 4 broken of
    1,000; on the first 500 problems here). It fails if the checkpoint, the decoder or the task drift."""
    import t2m
    from t2m.data import build_prompt
    from t2m.scoring import is_correct
    from t2m.tiny import BUNDLED

    m = t2m.load_model(str(BUNDLED["tiny-carry"]))
    problems = load_problems("carry_test")[:500]
    prompts = [build_prompt(p, dataset("carry_test").template, m.tokenizer) for p in problems]
    common = dict(gen_length=carry.GEN_LENGTH, attention="block_causal", verify_steps=1, threshold=0.3,
                  temperature=0.7, c_max=3, rho_max=0.5)  # fmt: skip
    right = {}
    for strategy, tau in (("t2t", None), ("lowprob", 0.9)):
        results = t2m.decode(m, prompts, t2m.DecodeConfig(strategy=strategy, tau=tau, **common), batch_size=250)
        texts = [m.tokenizer.decode(r.tokens, skip_special_tokens=True) for r in results]
        right[strategy] = [is_correct(t, p.gold) for t, p in zip(texts, problems)]
    fixed = sum(b and not a for a, b in zip(right["t2t"], right["lowprob"]))
    broken = sum(a and not b for a, b in zip(right["t2t"], right["lowprob"]))
    print(f"T2T {sum(right['t2t'])}/{len(problems)}, LowProb fixed {fixed}, broken {broken}")
    assert 0.84 <= sum(right["t2t"]) / len(problems) <= 0.94
    assert fixed >= 5 and fixed >= 2 * broken, (fixed, broken)
