"""The arith generator and its frozen splits, the tokenizer, benchmark loaders and prompt building."""

import hashlib
import json
import random
import re
from fractions import Fraction
from pathlib import Path

import pytest

from t2m.data import DATASETS, GEN_LENGTH, PROMPT_TEMPLATES, Problem, build_prompt, dataset, distinct, load_problems
from t2m.data import arith
from t2m.data.benchmarks import cmath100_indices
from t2m.tiny import CHECKPOINT as BUNDLED_MODEL

SHARED = Path(__file__).resolve().parents[2] / "shared"

# The evaluation splits must not change unnoticed: reports compare results by split name (the store
# keys samples by content). Issue 24 rebuilt them with one number set per problem: these are new pins.
PINNED = {"arith100": "8ab2bdfce0a262ea", "arith1000": "8039f091418cb495"}


def _digest(problems):
    text = "\n".join(f"{p.question}|{p.gold}|{p.target}" for p in problems)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(BUNDLED_MODEL)


def test_generator_is_deterministic_and_seed_dependent():
    a, b = arith.generate(50, seed=7), arith.generate(50, seed=7)
    assert a == b
    assert [p.question for p in arith.generate(50, seed=8)] != [p.question for p in a]
    assert len({p.question for p in a}) == 50  # no duplicate questions within a split


@pytest.mark.parametrize("name", ["arith100", "arith1000"])
def test_eval_splits_are_pinned(name):
    problems = load_problems(name)
    assert len(problems) == arith.EVAL_SIZES[name]
    assert _digest(problems) == PINNED[name]
    assert problems[0].id == f"{name}-0000"


def test_every_eval_problem_has_its_own_number_set():
    """No two problems share their numbers, within a split or across the two (issue 24: the first
    arith1000 held 811 number sets among 1,000 questions), and none is a twin of another."""
    splits = [load_problems(name) for name in arith.EVAL_SIZES]
    every = [p for split in splits for p in split]
    assert len(every) == 1100
    assert len({arith.number_set(p.question) for p in every}) == 1100
    assert len({arith.twin_key(p.question) for p in every}) == 1100
    # What the splits were before: the same rule finds their twins.
    retired = arith.generate(1000, arith.RETIRED_SEEDS["arith1000"])
    assert len({arith.number_set(p.question) for p in retired}) == 811
    assert distinct(retired, arith.twin_key)[1] == 1000 - 885


def test_training_never_sees_an_eval_question():
    evals = arith.eval_questions()
    assert {p.question for name in arith.EVAL_SIZES for p in load_problems(name)} <= evals
    assert arith.retired_questions() <= evals  # still skipped: the bundled recipe draws the batches it drew
    for step in range(3):
        batch = arith.training_stream(seed=0, step=step, n=200, exclude=evals)
        assert not {p.question for p in batch} & evals
    assert arith.training_stream(0, 5, 20, evals) == arith.training_stream(0, 5, 20, evals)  # resumable


@pytest.mark.slow
def test_splits_on_disk_are_the_built_ones_and_unseen_by_the_bundled_model():
    """splits/*.jsonl is what `python -m t2m.data` builds, and the bundled model's training data (its
    recipe replayed: 8,000 steps of 32 and 256 for validation) holds none of their questions."""
    built = arith.build_eval_splits()
    trained = arith.bundled_training_questions()
    assert len(trained) > 150_000
    for name, problems in built.items():
        assert problems == load_problems(name)
        assert not {p.question for p in problems} & trained
    # Excluding the new questions leaves the bundled recipe's batches as they were drawn.
    r = arith.BUNDLED_TRAINING
    for step in (0, 4321, r["steps"] - 1):
        assert arith.training_stream(r["seed"], step, r["batch_size"], arith.eval_questions()) == \
            arith.training_stream(r["seed"], step, r["batch_size"], arith.retired_questions())


def test_targets_are_correct_arithmetic():
    """Every equation in every target holds, and the answer line repeats the last result."""
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
    n_steps, decimals = set(), 0
    for p in load_problems("arith1000"):
        equations = re.findall(r"(-?[\d.]+) ([-+*/]) (-?[\d.]+) = (-?[\d.]+)\.", p.target)
        assert 1 <= len(equations) <= 3, p.target
        for a, op, b, r in equations:
            assert ops[op](Fraction(a), Fraction(b)) == Fraction(r), p.target
        assert p.target.endswith(f"\nThe answer is {p.gold}.")
        assert Fraction(equations[-1][3]) == Fraction(p.gold)
        assert Fraction(p.gold) >= 0
        n_steps.add(len(equations))
        decimals += "." in p.gold
    assert n_steps == {1, 2, 3}
    assert 10 < decimals < 300  # some decimal answers, mostly integers


def test_tokenizer_round_trip_keeps_digits_and_decimals(tokenizer):
    for text in ["The answer is 12.", "2.5 * 4 = 10.\nThe answer is 2.5.", "100 - 47.5 = 52.5."]:
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert tokenizer.decode(ids) == text
        assert tokenizer.unk_token_id not in ids
    digits = tokenizer.convert_ids_to_tokens(tokenizer.encode("1234567890", add_special_tokens=False))
    assert digits == list("1234567890")  # every digit its own token
    assert tokenizer.mask_token == "<|mask|>" and tokenizer.eos_token == "<|eos|>"
    assert tokenizer.bos_token == "<|bos|>" and tokenizer.pad_token == "<|pad|>"
    assert len({tokenizer.mask_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id, tokenizer.pad_token_id}) == 4


def test_committed_tokenizer_matches_build_tokenizer(tokenizer):
    from t2m.tiny.tokenizer import build_tokenizer

    assert build_tokenizer().get_vocab() == tokenizer.get_vocab()


def test_arith_prompts_fit_the_trained_length(tokenizer):
    """Prompt + target + EOS fit the training length (96) and the target fits GEN_LENGTH."""
    for p in load_problems("arith1000"):
        prompt = build_prompt(p, dataset("arith1000").template, tokenizer)
        target = tokenizer.encode(p.target, add_special_tokens=False)
        assert prompt[0] == tokenizer.bos_token_id
        assert tokenizer.unk_token_id not in prompt + target
        assert len(prompt) + len(target) + 1 <= 96
        assert len(target) + 1 <= dataset("arith1000").gen_length


def test_build_prompt_applies_a_chat_template(tokenizer):
    import copy

    chatty = copy.deepcopy(tokenizer)
    # A toy chat template spelled in words the tiny vocabulary knows: the user turn becomes
    # "Question: ...", the generation prompt "Answer:".
    chatty.chat_template = "{% for m in messages %}<|bos|>Question: {{ m['content'] }}\n{% endfor %}" \
                           "{% if add_generation_prompt %}Answer:{% endif %}"
    p = Problem(id="x", question="Tom has 3 apples.", gold="3")
    ids = build_prompt(p, "{question} How many?", chatty)
    assert chatty.decode(ids) == "<|bos|>Question: Tom has 3 apples. How many?\nAnswer:"
    plain = build_prompt(p, "{question} How many?", tokenizer)
    assert plain[0] == tokenizer.bos_token_id and tokenizer.decode(plain[1:]) == "Tom has 3 apples. How many?"


def test_templates_and_gen_lengths_cover_every_dataset():
    assert sorted(DATASETS) == ["arith100", "arith1000", "carry_dev", "carry_test", "cmath", "cmath100", "gsm8k"]
    assert all("{question}" in dataset(d).template for d in DATASETS)
    # CMATH: the paper's code allows 16,384; 1,024 truncated the long answers of heavy-remasking configurations (issue 24).
    assert dataset("cmath").gen_length == dataset("cmath100").gen_length == 16384 and dataset("gsm8k").gen_length == 256
    assert "The answer is N." in dataset("gsm8k").template
    # The old dicts are views of the registry, not copies.
    assert dict(GEN_LENGTH) == {d: e.gen_length for d, e in DATASETS.items()} and PROMPT_TEMPLATES["gsm8k"] == dataset("gsm8k").template
    assert [d for d in DATASETS if not dataset(d).takes_path] == ["arith100", "arith1000", "carry_dev", "carry_test"]


def test_cmath_template_is_the_papers_prompt():
    ref = SHARED / "reference" / "cmath_prompt_reference.txt"
    if not ref.exists():
        pytest.skip(f"{ref} is absent")
    assert dataset("cmath100").template == ref.read_text(encoding="utf-8")


def test_cmath100_is_the_papers_subset(tmp_path):
    path = tmp_path / "cmath_test.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in range(1098):
            f.write(json.dumps({"question": f"问题{i}", "golden": str(i % 7)}, ensure_ascii=False) + "\n")
    state = random.getstate()
    try:
        random.seed(42)
        expected = sorted(random.sample(range(1098), 100))  # the paper's rule, verbatim
    finally:
        random.setstate(state)
    assert cmath100_indices(1098) == expected
    subset = load_problems("cmath100", path=str(path))
    assert [p.question for p in subset] == [f"问题{i}" for i in expected]
    assert [p.id for p in subset] == [f"cmath-{i:04d}" for i in expected]
    assert len(load_problems("cmath", path=str(path))) == 1098
    assert len(load_problems("cmath100", path=str(path), limit=10)) == 10


def test_cmath100_refuses_anything_but_the_test_split(tmp_path):
    dev = tmp_path / "cmath_dev.jsonl"  # the dev split's size; the real one is checked below when present
    dev.write_text("".join(json.dumps({"input": f"q{i}", "golden": "1"}) + "\n" for i in range(600)))
    with pytest.raises(ValueError, match=rf"cmath100 is sampled from the 1,098-problem CMATH test split, but {dev} has 600 problems") as e:
        load_problems("cmath100", path=str(dev))
    assert "\n" not in str(e.value)
    assert len(load_problems("cmath", path=str(dev))) == 600  # the full-split dataset takes any file
    real = SHARED / "data" / "cmath_dev.jsonl"
    if real.exists():
        with pytest.raises(ValueError, match="has 600 problems"):
            load_problems("cmath100", path=str(real))


def test_real_benchmark_files_load():
    cmath, gsm8k = SHARED / "data" / "cmath_dev.jsonl", SHARED / "data" / "gsm8k_test.jsonl"
    if not cmath.exists() or not gsm8k.exists():
        pytest.skip("../shared/data is absent")
    dev = load_problems("cmath", path=str(cmath))  # the dev file names its question field `input`
    assert len(dev) == 600 and dev[0].question.startswith("芳芳") and dev[0].gold == "9"
    gsm = load_problems("gsm8k", path=str(gsm8k))
    assert len(gsm) == 1319 and gsm[0].gold == "18"
    assert "1,450,000" in {p.gold for p in gsm}  # kept as written; scoring normalises


def test_loader_errors_are_one_line_and_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"unknown; allowed: arith100, arith1000, carry_dev, carry_test, cmath, cmath100, gsm8k \(a module of your own"):
        load_problems("mmlu")
    with pytest.raises(FileNotFoundError, match="cmath.*nope.jsonl"):
        load_problems("cmath", path=str(tmp_path / "nope.jsonl"))
    with pytest.raises(ValueError, match="takes no path"):
        load_problems("arith100", path="x.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"input": "q"}\n')
    with pytest.raises(ValueError, match="golden"):
        load_problems("cmath", path=str(bad))
    with pytest.raises(ValueError, match="limit"):
        load_problems("arith100", limit=-1)
