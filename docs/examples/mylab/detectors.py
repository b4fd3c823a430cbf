"""A random-remask control: the baseline every detector should beat (README, "Your own policies")."""

from t2m.decoding import register_strategy


@register_strategy("random_remask", remasks=True, default_tau=0.05)
def random_remask(view):
    """Remask each committed token with probability tau, whatever the model thinks."""
    u = view.uniform()  # seeded per row: the same numbers in any batch
    return u < view.tau, u  # (which to remask, scores: the rho_max cap keeps the lowest)
