"""The decoding contract (DESIGN.md §1) on scripted models: each test is one mechanism of the paper."""

import pytest

from scripted import EOS, MASK, dist, scripted_model
from t2m import DecodeConfig, decode

PROMPT = [1, 2, 3, 4]  # exactly one block of 4: generation starts at block 1


def cfg(**kw):
    base = dict(block_length=4, gen_length=4, eos_early_stop=False, max_post_steps=16)
    base.update(kw)
    return DecodeConfig(**base)


def run(script, config, prompt=PROMPT):
    return decode(scripted_model(script), [prompt], config, trajectory=True)[0]


def test_stuck_token_left_by_t2t_is_remasked_by_lowprob():
    """A committed token with p≈2e-5 whose best alternatives are only 0.12 and 0.11: T2T's 0.5
    threshold never fires, LowProb τ=0.3 resets it and the refill repairs it."""

    def script(tokens, step):
        out = []
        for i, t in enumerate(tokens):
            if t == MASK:  # position 2 is first filled with a wrong 5, later with the right 7
                out.append(dist({(5 if step == 1 else 7) if i == 2 else i: 0.9}))
            elif i == 2 and t == 5:
                out.append(dist({5: 2e-5, 1: 0.12, 2: 0.11}))
            else:
                out.append(dist({t: 0.95}))
        return out

    t2t = run(script, cfg(strategy="t2t"))
    low = run(script, cfg(strategy="lowprob", tau=0.3, c_max=1, rho_max=0.25))
    assert t2t.tokens[2] == 5 and t2t.t2t_edits == 0
    assert low.tokens[2] == 7 and low.remasks == 1
    assert [e["event"] for e in low.trajectory if e["position"] == 2] == ["fill", "remask", "fill"]


def premature_script(tokens, step):
    """Position 0 is filled first; while its neighbours are masked the model prefers 6 over the right 3;
    once they are filled it knows 3 again, but only weakly when 6 is already written there."""
    out = []
    all_masked = all(t == MASK for t in tokens)
    neighbours_masked = any(t == MASK for t in tokens[1:3])
    for i, t in enumerate(tokens):
        if i == 0:
            if t == MASK:
                out.append(dist({3: 0.9 if all_masked else (0.8 if not neighbours_masked else 0.1)}))
            elif neighbours_masked:
                out.append(dist({6: 0.6, 3: 0.3}))
            elif t == 6:
                out.append(dist({3: 0.45, 6: 0.40}))
            else:
                out.append(dist({3: 0.9}))
        elif t == MASK:
            out.append(dist({i + 3: 0.25 if i == 1 else 0.2}))
        else:
            out.append(dist({t: 0.9}))
    return out


def test_premature_replacement_t2t_commits_t2m_recovers():
    t2t = run(premature_script, cfg(strategy="t2t"))
    t2m = run(premature_script, cfg(strategy="t2t_remask", tau=0.5, c_max=1, rho_max=1.0))
    assert t2t.tokens == [6, 4, 5, 6] and t2t.t2t_edits == 1
    assert t2m.tokens == [3, 4, 5, 6] and t2m.remasks == 1 and t2m.t2t_edits == 0


def ratio_script(low):
    def script(tokens, step):
        if step == 1:
            return [dist({i: 0.9}) for i in range(len(tokens))]
        return [dist({t: low.get(i, 0.9)}) if t != MASK else dist({i: 0.9}) for i, t in enumerate(tokens)]

    return script


@pytest.mark.parametrize("rho,expected", [(0.25, {0, 2}), (0.5, {0, 2, 3, 1}), (1.0, {0, 1, 2, 3})])
def test_ratio_cap_keeps_lowest_scores(rho, expected):
    low = {0: 0.1, 1: 0.4, 2: 0.05, 3: 0.3}  # four LowProb candidates among eight editable positions
    r = run(ratio_script(low), cfg(strategy="lowprob", tau=0.5, c_max=1, rho_max=rho, block_length=8, gen_length=8), prompt=[1] * 8)
    first = {e["position"] for e in r.trajectory if e["event"] == "remask" and e["step"] == 2}
    assert first == expected


def test_ratio_cap_floor_is_at_least_one():
    # floor(8 · 0.1) = 0, but a step may always remask one position.
    r = run(ratio_script({5: 0.01, 6: 0.02}), cfg(strategy="lowprob", tau=0.5, c_max=1, rho_max=0.1, block_length=8, gen_length=8), prompt=[1] * 8)
    assert {e["position"] for e in r.trajectory if e["event"] == "remask" and e["step"] == 2} == {5}


@pytest.mark.parametrize("c_max", [1, 3])
def test_c_max_bounds_remasks_per_position(c_max):
    def script(tokens, step):  # position 1 is always doubted after it is written
        return [dist({i: 0.9}) if t == MASK else dist({t: 0.01 if i == 1 else 0.9}) for i, t in enumerate(tokens)]

    r = run(script, cfg(strategy="lowprob", tau=0.3, c_max=c_max, rho_max=1.0))
    assert r.remasks == c_max
    assert r.steps_per_block == [1 + 2 * c_max + 1]  # fill, c_max × (remask, refill), one quiet step


def test_unbounded_c_max_still_terminates():
    def script(tokens, step):
        return [dist({i: 0.9}) if t == MASK else dist({t: 0.01 if i == 1 else 0.9}) for i, t in enumerate(tokens)]

    r = run(script, cfg(strategy="lowprob", tau=0.3, c_max=None, rho_max=1.0))
    assert r.remasks > 3 and r.forwards <= 4 * 9 + 16 + 1


@pytest.mark.parametrize("drop_at_step,remasked", [(2, False), (3, True)])
def test_logitdiff_abstains_on_first_editable_step(drop_at_step, remasked):
    """Step 1 fills positions 0-2; step 2 (the block's first with editable positions) fills 3 and
    only records; from step 3 on a drop in p(token at 0) can trigger a remask."""

    def script(tokens, step):
        if step == 1:
            return [dist({i: 0.9}) for i in range(3)] + [dist({3: 0.2})]
        first = dist({7: 0.9}) if tokens[0] == MASK else dist({tokens[0]: 0.1 if step >= drop_at_step and tokens[0] == 0 else 0.9})
        return [first] + [dist({i + 1: 0.9}) if t == MASK else dist({t: 0.9}) for i, t in enumerate(tokens[1:])]

    r = run(script, cfg(strategy="logitdiff", tau=0.3, c_max=1, rho_max=1.0))
    assert (r.remasks == 1) is remasked
    assert r.tokens[0] == (7 if remasked else 0)


def test_post_step_cap_ends_an_oscillating_block():
    def script(tokens, step):  # once full, the model always wants another token at position 0
        if MASK in tokens:
            return [dist({i: 0.9}) for i in range(4)]
        return [dist({(tokens[0] + 1) % 8: 0.9})] + [dist({t: 0.9}) for t in tokens[1:]]

    r = run(script, cfg(strategy="t2t", max_post_steps=3))
    assert r.steps_per_block == [1 + 3] and r.t2t_edits == 3


def test_no_edit_strategy_ends_after_one_quiet_step():
    r = run(lambda tokens, step: [dist({5: 0.9})] * 4, cfg(strategy="none"))
    assert r.tokens == [5, 5, 5, 5] and r.steps_per_block == [2] and r.t2t_edits == r.remasks == 0


def test_prompt_tail_inside_first_block_stays_frozen():
    # Prompt of 6 with blocks of 4: block 1 holds prompt tokens 4, 5; the model 'hates' them.
    prompt = [1, 2, 3, 4, 5, 6]

    def script(tokens, step):
        return [dist({i: 0.9}) if t == MASK else dist({7: 0.99, t: 1e-4}) for i, t in enumerate(tokens)]

    for strategy in ("t2t", "lowprob"):
        r = run(script, cfg(strategy=strategy, tau=0.3, c_max=1, rho_max=1.0, gen_length=2), prompt=prompt)
        events = r.trajectory
        assert all(e["position"] >= 0 for e in events if e["event"] in ("edit", "remask"))
        assert r.tokens[:2] in ([2, 3], [7, 7])  # generated slots only; the prompt was never touched


def test_eos_early_stop_skips_later_blocks():
    def script(tokens, step):
        return [dist({EOS: 0.9}) for _ in tokens]

    stop = run(script, cfg(strategy="t2t", gen_length=12, eos_early_stop=True))
    full = run(script, cfg(strategy="t2t", gen_length=12, eos_early_stop=False))
    assert stop.tokens == [EOS] and len(stop.steps_per_block) == 1 and stop.steps_per_block == [1]
    assert full.tokens == [EOS] and len(full.steps_per_block) == 3 and full.forwards > stop.forwards


def test_m2t_commits_one_position_when_none_is_confident():
    r = run(lambda tokens, step: [dist({i: 0.2 + 0.1 * i}) for i in range(4)], cfg(strategy="none"))
    fills = [e for e in r.trajectory if e["event"] == "fill"]
    assert [e["position"] for e in fills] == [3, 2, 1, 0]  # one per step, most confident first


@pytest.mark.parametrize(
    "field,value",
    [("strategy", "foo"), ("tau", 1.5), ("rho_max", 0), ("c_max", 0), ("block_length", 0), ("gen_length", -1),
     ("threshold", -0.1), ("temperature", -1.0), ("top_p", 0.0), ("max_post_steps", -1), ("c_max", 1.5)],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        DecodeConfig(**{field: value})


def test_bad_inputs_are_rejected():
    model = scripted_model(lambda tokens, step: [dist({0: 0.9})] * len(tokens))
    with pytest.raises(ValueError, match="mask id"):
        decode(model, [[1, MASK]], cfg())
    with pytest.raises(ValueError, match="outside"):
        decode(model, [[1, 99]], cfg())
    with pytest.raises(ValueError, match="one config or one per prompt"):
        decode(model, [[1], [2]], [cfg()] * 3)
    with pytest.raises(ValueError, match="batch_size"):
        decode(model, [[1]], cfg(), batch_size=0)


def test_verification_steps_come_before_the_eos_stop_and_the_quiet_step_end():
    import torch

    from t2m.decoding.rules import block_goes_on, still_verifying

    one = torch.ones(3, dtype=torch.bool)
    post = torch.tensor([1, 2, 3])  # this is the row's 1st, 2nd, 3rd step without a mask
    go = block_goes_on(one, one, post, one, one, torch.full((3,), 16), torch.zeros(3, dtype=torch.long), torch.full((3,), 99),
                       torch.full((3,), 2))  # fmt: skip
    assert go.tolist() == [True, True, False]  # verify_steps=2: EOS ends the block only after two verification forwards
    assert still_verifying(one, post, torch.full((3,), 2)).tolist() == [True, False, False]
    assert not still_verifying(one, post, torch.zeros(3, dtype=torch.long)).any()  # verify_steps=0: the reference's rules
