"""What one stored sample holds: a problem, its decode result, and the result scored against the gold.

Its code is part of every fingerprint (provenance.SAMPLE_CODE): changing what a record holds starts new
store entries instead of mixing old and new records.
"""

from __future__ import annotations


def sample_record(lm, problem, prompt: list[int], result, decode_share_s: float) -> dict:
    from t2m.analysis.errors import classify, faithful
    from t2m.scoring import extract_answer, is_correct

    text = lm.tokenizer.decode(result.tokens, skip_special_tokens=True)
    truncated = lm.eos_id not in result.tokens  # ran out of gen_length before EOS
    return {
        "id": problem.id,
        "prompt": lm.tokenizer.decode(prompt),
        "gold": problem.gold,
        "generation": text,
        "extracted": extract_answer(text),
        "correct": bool(is_correct(text, problem.gold)),
        "strict_correct": bool(is_correct(text, problem.gold, strict=True)),
        "error_class": classify(text, str(problem.gold), truncated=truncated),  # correct / last_mile / reasoning / no_answer
        "faithful": faithful(text),  # the answer line states the chain's last computed value (None: the chain computed none)
        "truncated": truncated,
        "tokens": list(result.tokens),
        "forwards": result.forwards,
        "t2t_edits": result.t2t_edits,
        "remasks": result.remasks,
        "modifications": result.t2t_edits + result.remasks,  # the paper's cost: edits for T2T, remasks for T2M
        "output_tokens": result.output_tokens,
        "steps_per_block": list(result.steps_per_block),
        "wall_time_s": result.wall_time_s,
        "decode_share_s": decode_share_s,  # this sample's share of its decode call's wall time
    }
