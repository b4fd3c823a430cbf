"""A dataset of your own: your lab's word problems, one JSON object per line (README, "Your own datasets")."""

import json
from pathlib import Path

from t2m.data import Problem, register_dataset

BESIDE = Path(__file__).with_name("lab_shop.jsonl")


@register_dataset("lab_shop", template="Question: {question}\nAnswer:", gen_length=64, answer="number")
def lab_shop(path=None):
    """Our lab's shopping problems: {"q": ..., "a": ...} per line (dataset.path, or the file beside this module)."""
    lines = Path(path or BESIDE).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [Problem(id=f"lab_shop-{i:03d}", question=row["q"], gold=str(row["a"])) for i, row in enumerate(rows)]
