"""The dataset registry (issue 22), duplicate problems and truncated answers (issue 24): registering
a dataset, what the entry decides, the twin rules, the counts summaries carry and the warning lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import t2m
from t2m.analysis.metrics import summarize
from t2m.data import DATASETS, Problem, build_prompt, dataset, distinct, load_problems, register_dataset
from t2m.data import arith, registry
from t2m.pipeline.report.notes import data_warnings

sys.path.insert(0, str(Path(__file__).parent))
from tensor_bytes import PeakTensorBytes  # noqa: E402

TEMPLATE = "Q: {question}\nA:"


@pytest.fixture
def registered():
    """Datasets a test registers are gone afterwards: the registry is one per process."""
    before = dict(DATASETS)
    yield
    DATASETS.clear()
    DATASETS.update(before)


def test_a_registered_dataset_is_loaded_deduplicated_and_limited(registered, tmp_path):
    questions = ["Tom has 3 pens.  How many?", "Amy has 3 pens. How many?", "Tom has 4 pens. How many?", "Leo has 3 PENS. How  many?"]

    @register_dataset("toy", template=TEMPLATE, gen_length=48)
    def toy(path=None):
        """Toy problems."""
        return [Problem(id=f"toy-{i}", question=q, gold="3") for i, q in enumerate(questions)]

    entry = dataset("toy")
    assert (entry.template, entry.gen_length, entry.answer, entry.takes_path, entry.hub, entry.description) == \
        (TEMPLATE, 48, "number", True, None, "Toy problems.")  # fmt: skip
    # Names (words in title case), case and spacing ignored: 1 and 3 are twins of 0; 2 has other numbers.
    assert [p.id for p in load_problems("toy")] == ["toy-0", "toy-2"]
    assert entry.problems() == (load_problems("toy"), 2)
    assert [p.id for p in load_problems("toy", limit=1)] == ["toy-0"]
    # Views of the registry see it at once.
    assert t2m.data.GEN_LENGTH["toy"] == 48 and t2m.data.PROMPT_TEMPLATES["toy"] == TEMPLATE


@pytest.mark.parametrize("kwargs,message", [
    (dict(template="no slot", gen_length=8), "template='no slot' has no {question}"),
    (dict(template=TEMPLATE, gen_length=0), "gen_length=0 is invalid; allowed: an integer >= 1"),
    (dict(template=TEMPLATE, gen_length=8, answer="latex"), "answer='latex' is unknown; allowed: number"),
    (dict(template=TEMPLATE, gen_length=8, takes_path=False, hub="x/y"), "a hub dataset takes a local copy as its path"),
])  # fmt: skip
def test_a_bad_registration_is_one_line(registered, kwargs, message):
    with pytest.raises(ValueError, match=None) as e:
        register_dataset("bad", **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert "bad" not in DATASETS


def test_a_name_taken_by_another_loader_is_refused(registered):
    with pytest.raises(ValueError, match=r"dataset 'gsm8k' is already registered by t2m.data.benchmarks.gsm8k; pick another name"):
        register_dataset("gsm8k", template=TEMPLATE, gen_length=8)(lambda path: [])
    assert dataset("gsm8k").gen_length == 256


def test_generated_datasets_take_no_path():
    with pytest.raises(ValueError, match="dataset 'arith100' is generated and takes no path; got path='x.jsonl'"):
        dataset("arith100").problems("x.jsonl")


def test_arith_twins_differ_in_names_only():
    a = "Tom has 5 apples. He gets 3 more. How many apples does Tom have now?"
    b = "Amy has 5 pears. She gets 3 more. How many pears does Amy have now?"
    c = "Amy has 5 pears. She gets 4 more. How many pears does Amy have now?"
    assert arith.twin_key(a) == arith.twin_key(b) != arith.twin_key(c)
    assert arith.number_set(a) == ("5", "3") and arith.number_set("A pen costs 2.5 yuan.") == ("2.5",)
    # The plain rule (other datasets) agrees here, and keeps questions with other numbers apart.
    assert registry.plain_twin_key(a) == registry.plain_twin_key(a.replace("Tom", "Leo")) != registry.plain_twin_key(c)
    kept, dropped = distinct([Problem("1", a, "8"), Problem("2", b, "8"), Problem("3", c, "9")], arith.twin_key)
    assert [p.id for p in kept] == ["1", "3"] and dropped == 1


def test_summaries_count_truncated_answers():
    records = [{"correct": i < 2, "strict_correct": False, "modifications": 0, "t2t_edits": 0, "remasks": 0, "forwards": 2,
                "output_tokens": 5, "error_class": "correct" if i < 2 else "no_answer", "truncated": i in (1, 3)} for i in range(4)]  # fmt: skip
    assert summarize(records)["n_truncated"] == 2
    assert summarize([{**r, "truncated": False} for r in records])["n_truncated"] == 0


def test_report_warns_of_truncation_over_one_percent_and_of_duplicates():
    df = pd.DataFrame({"strategy": ["t2t", "lowprob", "logitdiff"], "n": [200, 200, 200], "n_truncated": [2, 3, 0],
                       "dataset": ["gsm8k"] * 3, "n_duplicates": [4, 4, 4]})  # fmt: skip
    lines = data_warnings(df)
    assert lines == [
        "dataset gsm8k: 4 problems duplicate others (the same question once names and spacing are ignored) and are left out: "
        "n counts distinct problems",
        "1 configuration with more than 1% of answers truncated (filled gen_length without EOS; column n_truncated): "
        "#1 lowprob (3/200); raise gen_length",
    ]  # 2 of 200 is 1%: not more
    assert data_warnings(df.drop(columns=["n_truncated", "n_duplicates"])) == []  # summaries written before issue 24


def test_a_long_canvas_costs_nothing_for_short_answers():
    """CMATH's 16,384 (issue 24): with EOS early stop, answers that end early decode exactly as with
    64 (same tokens, same forwards), and the longer canvas adds only its id and flag rows (a few
    [rows, width] tensors), never anything of width x width or width x vocabulary."""
    torch.set_num_threads(1)
    lm = t2m.load_model(None)
    problems = load_problems("arith100", limit=8)
    prompts = [build_prompt(p, dataset("arith100").template, lm.tokenizer) for p in problems]
    results, peaks = {}, {}
    for g in (64, 16384):
        with PeakTensorBytes() as m:
            results[g] = t2m.decode(lm, prompts, t2m.DecodeConfig(strategy="lowprob", gen_length=g), batch_size=8)
        peaks[g] = m.peak
    assert all(lm.eos_id in r.tokens for r in results[64])  # short answers: what the claim is about
    assert [(r.tokens, r.forwards, r.remasks) for r in results[16384]] == [(r.tokens, r.forwards, r.remasks) for r in results[64]]
    width_row = len(prompts) * 16384 * 8  # one int64 [rows, 16384] tensor
    assert peaks[16384] - peaks[64] < 4 * width_row, (peaks, width_row)
