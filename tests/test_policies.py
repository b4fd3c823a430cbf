"""Policies as registry entries: a strategy's facts live in its entry and everything derives from
it; users register their own; the optional view fields are computed only when asked for."""

from __future__ import annotations

import math

import pytest

from scripted import MASK, dist, scripted_model
from t2m import DecodeConfig, decode
from t2m.decoding import registry
from t2m.decoding.registry import STRATEGIES, UNMASKING, register_strategy, register_unmasking


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "STRATEGIES", dict(STRATEGIES))
    monkeypatch.setattr(registry, "UNMASKING", dict(UNMASKING))


def test_builtin_facts_come_from_the_registry():
    assert {n: (s.remasks, s.default_tau) for n, s in STRATEGIES.items()} == {
        "none": (False, 0.0), "t2t": (False, 0.5), "lowprob": (True, 0.3), "t2t_remask": (True, 0.7), "logitdiff": (True, 0.2),
        "wino": (True, 0.9), "random_remask": (True, 0.05),
    }  # fmt: skip
    assert [n for n, s in STRATEGIES.items() if s.baseline] == ["t2t"] and STRATEGIES["logitdiff"].needs_previous_step
    assert set(UNMASKING) >= {"threshold", "low_confidence", "wino"}
    for name, entry in STRATEGIES.items():
        assert DecodeConfig(strategy=name).tau == entry.default_tau  # a default never silently becomes 0.5
        assert DecodeConfig(strategy=name).is_remask == entry.remasks


def test_a_registered_strategy_is_validated_from_its_entry(scratch_registry):
    @register_strategy("wide", remasks=True, default_tau=4.0, tau_range=(0.0, 10.0))
    def wide(v):
        """Flags nothing."""
        return v.p_old < 0, v.p_old

    assert DecodeConfig(strategy="wide").tau == 4.0 and DecodeConfig(strategy="wide", tau=9.5).tau == 9.5
    with pytest.raises(ValueError, match=r"tau=11 is out of range; allowed: a number in \[0, 10\] for strategy=wide"):
        DecodeConfig(strategy="wide", tau=11)
    with pytest.raises(ValueError, match=r"strategy='nope' is unknown; allowed: .*wide.*plugins=\[\.\.\.\]"):
        DecodeConfig(strategy="nope")
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("wide", remasks=False, default_tau=0.1)(lambda v: v)
    with pytest.raises(ValueError, match="outside its tau_range"):
        register_strategy("bad", remasks=True, default_tau=2.0)
    with pytest.raises(ValueError, match="allowed: entropy, margin"):
        register_unmasking("bad", needs=["logits"])


def test_optional_view_fields_are_computed_only_when_asked(scratch_registry):
    seen = {}

    @register_strategy("spy", remasks=True, default_tau=0.5, needs=["entropy", "margin"])
    def spy(v):
        """Records what it saw, flags nothing."""
        seen["spy"] = (v.entropy, v.margin)
        return v.p_old < 0, v.p_old

    @register_unmasking("spy_m2t")
    def spy_m2t(v):
        """Records what it saw, commits like `threshold`."""
        seen["m2t"] = (v.entropy, v.margin)
        return UNMASKING["threshold"].select(v)

    def script(tokens, step):
        return [dist({0: 0.6, 1: 0.3}) for _ in tokens]

    decode(scripted_model(script), [[1, 2, 3, 4]], DecodeConfig(strategy="none", unmasking="spy_m2t", block_length=4, gen_length=4))
    assert seen["m2t"] == (None, None)
    decode(scripted_model(script), [[1, 2, 3, 4]], DecodeConfig(strategy="spy", unmasking="spy_m2t", block_length=4, gen_length=4))
    entropy, margin = seen["spy"]
    rest = 0.1 / 7  # dist() spreads the remaining 0.1 over the 7 other non-mask tokens
    assert margin.flatten()[0].item() == pytest.approx(0.3, rel=1e-5)
    assert entropy.flatten()[0].item() == pytest.approx(-(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(rest)), rel=1e-5)
    assert seen["m2t"][1] is not None  # one batch, one set of proposals: every policy sees what any asked for


def test_low_confidence_unmasking_follows_llada_schedule():
    """8 masked positions over 3 steps: 3, 3, 2, most confident first; then one confirming step."""

    def script(tokens, step):
        return [dist({i: 0.1 + 0.05 * i}) for i in range(len(tokens))]

    r = decode(scripted_model(script), [[1] * 8], DecodeConfig(strategy="none", unmasking="low_confidence", steps=3, block_length=8, gen_length=8), trajectory=True)[0]
    fills = [sorted(e["position"] for e in r.trajectory if e["event"] == "fill" and e["step"] == s) for s in (1, 2, 3)]
    assert fills == [[5, 6, 7], [2, 3, 4], [0, 1]] and r.steps_per_block == [4]


def test_the_model_may_propose_the_mask_token():
    """As in the reference, the mask token is not excluded: T2T may 'edit' a token into the mask, and
    the position is then filled again. (The scripted models elsewhere never propose it.)"""

    def script(tokens, step):
        if step == 2:  # position 0, committed at step 1, is confidently the mask now
            return [dist({MASK: 0.9})] + [dist({t: 0.9}) for t in tokens[1:]]
        return [dist({i: 0.9}) for i in range(len(tokens))]

    r = decode(scripted_model(script), [[1, 2, 3, 4]], DecodeConfig(strategy="t2t", block_length=4, gen_length=4, eos_early_stop=False), trajectory=True)[0]
    assert r.t2t_edits == 1 and r.tokens == [0, 1, 2, 3]
    assert [(e["step"], e["event"], e["token"]) for e in r.trajectory if e["position"] == 0] == [(1, "fill", 0), (2, "edit", MASK), (3, "fill", 0)]


def test_only_one_strategy_is_the_default_baseline(scratch_registry):
    assert registry.baseline_strategy() == "t2t"
    with pytest.raises(ValueError, match=r"strategy 'mine': baseline=True, but 't2t' is already the baseline; .*baseline=\{strategy:mine\}"):
        register_strategy("mine", remasks=True, default_tau=0.1, baseline=True)


def test_editing_your_own_policy_starts_a_new_store_entry(scratch_registry, tmp_path, monkeypatch):
    """The store key holds a digest of a plugin policy's source, as it does of t2m's decoder."""
    import importlib

    from t2m.pipeline.store.provenance import plugin_code

    source = tmp_path / "mine_policy.py"
    source.write_text("from t2m.decoding import register_strategy\n\n"
                      "@register_strategy('mine', remasks=True, default_tau=0.1)\n"
                      "def mine(view):\n    return view.p_old < view.tau, view.p_old\n")  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("mine_policy")
    try:
        first = plugin_code(DecodeConfig(strategy="mine"))
        source.write_text(source.read_text() + "# a change\n")
        assert first["strategy"].startswith("mine_policy:") and plugin_code(DecodeConfig(strategy="mine")) != first
    finally:
        __import__("sys").modules.pop("mine_policy", None)
    assert plugin_code(DecodeConfig(strategy="lowprob")) == {}  # built-ins are in the code digest already
