"""An unmasking policy of your own: commit where the model's top choice clearly beats the runner-up."""

from t2m.decoding import register_unmasking
from t2m.decoding.rules import most_confident


@register_unmasking("margin", needs=["margin"])  # asks the engine for p(top-1) - p(top-2)
def margin(view):
    """Commit masked positions whose top-2 margin exceeds threshold, or else the most confident one."""
    sure = view.masked & (view.margin > view.threshold)
    return sure | (most_confident(view.p0, view.masked, 1) & ~sure.any(1, keepdim=True))
