"""A detector of your own (README, "Your own policies"): LowProb with a soft edge."""

from t2m.decoding import register_strategy


@register_strategy("soft_lowprob", remasks=True, default_tau=0.3)
def soft_lowprob(view):
    """Remask a committed token at random with probability tau * sqrt(1 - p), p its probability under
    the current logits: a doubtful token often, a certain one never (the sqrt lets doubt grow fast)."""
    u = view.uniform()  # seeded per row: the same numbers in any batch
    return u < view.tau * (1 - view.p_old).sqrt(), u  # (which to remask, scores: the rho_max cap keeps the lowest)
