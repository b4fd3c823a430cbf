"""WINO (t2m/decoding/wino.py): the narrow-out verification rule on scripted models, and WINO rows
decoding the same batched as one at a time on the bundled model (the LLaDA2-style remote-code model:
test_llada_remote.py)."""

from __future__ import annotations


from scripted import MASK, dist, scripted_model
from t2m import DecodeConfig, decode
from t2m.data import PROMPT_TEMPLATES, build_prompt, load_problems
from t2m.decoding.registry import STRATEGIES, UNMASKING

PROMPT = [1, 2, 3, 4]  # one whole block of 4: generation starts at block 1
WINO = dict(strategy="wino", unmasking="wino", threshold=UNMASKING["wino"].default_threshold, c_max=None, rho_max=1.0)


def run(script, **kw):
    config = DecodeConfig(**{**dict(block_length=4, gen_length=4, eos_early_stop=False), **WINO, **kw})
    return decode(scripted_model(script), [PROMPT], config, trajectory=True)[0]


def events(result, position):
    return [e["event"] for e in result.trajectory if e["position"] == position]


def doubted_first_draft(tokens, step):
    """Step 1 drafts only position 0 (a wrong 5); step 2 drafts the other three, and with them in
    view the model doubts the 5 (p 0.2); once re-masked, position 0 is refilled with the right 7."""
    out = []
    for i, t in enumerate(tokens):
        if t == MASK:
            out.append(dist({(5 if step == 1 else 7): 0.95}) if i == 0 else dist({i: 0.3 if step == 1 else 0.95}))
        elif i == 0 and t == 5:
            out.append(dist({5: 0.2, 7: 0.7}))
        else:
            out.append(dist({t: 0.95}))
    return out


def test_a_draft_failing_verification_is_remasked_and_redrafted():
    wino = run(doubted_first_draft)
    plain = run(doubted_first_draft, strategy="none")
    assert plain.tokens == [5, 1, 2, 3] and plain.remasks == 0
    assert wino.tokens == [7, 1, 2, 3] and wino.remasks == 1
    assert events(wino, 0) == ["fill", "remask", "fill"]
    assert wino.forwards == plain.forwards + 1  # the redraft costs one more forward, counted


def test_verification_waits_for_a_step_that_drafts_several_tokens():
    """With only one confident position per step, nothing is ever re-masked however doubtful."""

    def one_at_a_time(tokens, step):
        first = tokens.index(MASK) if MASK in tokens else -1
        return [dist({i: 0.95 if i == first else 0.3}) if t == MASK else dist({t: 0.1}) for i, t in enumerate(tokens)]

    r = run(one_at_a_time)
    assert r.remasks == 0 and r.tokens == [0, 1, 2, 3]


def test_remasks_are_at_most_one_fewer_than_the_drafts_lowest_first():
    """Step 1 drafts positions 0 and 1; step 2 drafts two more and doubts both earlier drafts, but
    may re-mask only one: the less likely (position 0, p 0.1, before position 1, p 0.2)."""

    def script(tokens, step):
        out = []
        for i, t in enumerate(tokens):
            if t == MASK:
                out.append(dist({i: 0.95 if (i < 2 or step > 1) else 0.3}))
            elif step == 2 and i < 2:
                out.append(dist({t: 0.1 if i == 0 else 0.2}))
            else:
                out.append(dist({t: 0.95}))
        return out

    r = run(script)
    assert r.remasks == 1 and events(r, 0) == ["fill", "remask", "fill"] and events(r, 1) == ["fill"]
    assert run(script, tau=0.05).remasks == 0  # tau is the verification threshold


def test_wino_facts_come_from_its_registry_entries():
    assert STRATEGIES["wino"].remasks and STRATEGIES["wino"].default_tau == 0.9
    assert UNMASKING["wino"].default_threshold == 0.6
    assert DecodeConfig(strategy="wino").tau == 0.9


def test_drafting_is_capped_by_the_share_of_masks():
    """A block of 16 where every position is confident: WINO drafts clamp(0.7 * 16, 5, 20) = 11 first."""

    def confident(tokens, step):
        return [dist({i % 8: 0.99}) if t == MASK else dist({t: 0.99}) for i, t in enumerate(tokens)]

    config = DecodeConfig(**{**WINO, "block_length": 16, "gen_length": 16, "eos_early_stop": False})
    r = decode(scripted_model(confident), [[1 + i % 7 for i in range(16)]], config, trajectory=True)[0]
    first_step = [e for e in r.trajectory if e["step"] == 1 and e["event"] == "fill"]
    assert len(first_step) == 11 and r.steps_per_block[0] >= 2


def test_batched_equals_one_at_a_time_on_the_bundled_model(bundled):
    problems = load_problems("arith100", limit=8)
    prompts = [build_prompt(p, PROMPT_TEMPLATES["arith100"], bundled.tokenizer) for p in problems]
    configs = [
        DecodeConfig(**{**WINO, "gen_length": 64, "block_length": (32, 64)[i % 2], "tau": (0.9, 0.7)[(i // 2) % 2]})
        if i % 4 != 3 else DecodeConfig(gen_length=64, strategy="none")
        for i in range(len(prompts))
    ]
    key = lambda r: (r.tokens, r.forwards, r.remasks, r.steps_per_block)  # noqa: E731
    batched = decode(bundled, prompts, configs, batch_size=8)
    alone = [decode(bundled, [p], c, batch_size=1)[0] for p, c in zip(prompts, configs)]
    assert [key(r) for r in batched] == [key(r) for r in alone]
    assert sum(r.remasks for r in batched) > 0  # the test exercises the verification
