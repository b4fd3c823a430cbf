"""What a dataset is, and the registry that names it.

A dataset is a loader (`fn(path) -> [Problem, ...]`, path None where the dataset has its own source)
plus a registry entry holding its facts:

    template     the prompt the problems are put in by default ({question} marks the spot)
    gen_length   its generation budget (the config's `gen_length` follows it)
    answer       how a gold is compared (t2m.scoring.ANSWER_FORMATS: "number")
    takes_path   whether `dataset.path` may name a file (False: generated or bundled)
    hub          where it comes from without a path (a Hugging Face id), for the offline check
    twin_key     what makes two questions the same problem (see `distinct`)
    development  n -> n problems apart from the evaluation ones, for whatever is tuned before a run
                 (a matched control's tau); None: the dataset's own first problems

Those facts live nowhere else: the config's gen_length, validation, the pre-flight, the store key and
the report read them here.

Your own dataset is a module that registers it (no edit to t2m needed):

    from t2m.data import Problem, register_dataset

    @register_dataset("lab_shop", template="Question: {question}\\nAnswer:", gen_length=64)
    def lab_shop(path):
        '''Our lab's shopping problems.'''
        return [Problem(id=..., question=..., gold=...), ...]

with one YAML in your config directory (conf/dataset/lab_shop.yaml: `plugins: [mylab.data]`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

PLUGIN_HINT = "a module of your own that registers it goes in plugins=[...]"

# A word in title case is taken for a name (a sentence's first word too: the same in both twins):
# questions that differ only in who or what they are about are one problem.
_CAPITALISED = re.compile(r"(?<!\w)[A-Z][a-z'’-]*(?!\w)")
_PLACEHOLDER = "\u2400"  # one symbol no question contains


def plain_twin_key(question: str) -> str:
    """Names, case and spacing ignored: NFKC, words in title case (Tom, Janet's) as one placeholder,
    the rest case folded, whitespace runs as one space. Numbers are kept: other numbers are another problem."""
    text = _CAPITALISED.sub(_PLACEHOLDER, unicodedata.normalize("NFKC", question))
    return " ".join(text.split()).casefold()


@dataclass(frozen=True)
class Dataset:
    name: str
    load: Callable  # path (str or None) -> every Problem, in the benchmark's order
    template: str
    gen_length: int
    answer: str = "number"
    takes_path: bool = True
    hub: str | None = None
    twin_key: Callable[[str], str] = plain_twin_key
    development: Callable[[int], list] | None = None

    @property
    def description(self) -> str:
        return ((getattr(self.load, "__doc__", None) or "").strip().splitlines() or [""])[0]

    def problems(self, path: str | None = None) -> tuple[list, int]:
        """(its distinct problems, how many duplicates were left out) from `path` or its own source."""
        if path is not None and not self.takes_path:
            raise ValueError(f"dataset {self.name!r} is generated and takes no path; got path={path!r}")
        return distinct(self.load(path), self.twin_key)


DATASETS: dict[str, Dataset] = {}


def register_dataset(name: str, *, template: str, gen_length: int, answer: str = "number", takes_path: bool = True,
                     hub: str | None = None, twin_key: Callable[[str], str] | None = None,
                     development: Callable[[int], list] | None = None):  # fmt: skip
    """Decorator: register `fn(path) -> [Problem, ...]` as the dataset `dataset=name`."""
    from t2m.scoring import ANSWER_FORMATS

    if not isinstance(template, str) or "{question}" not in template:
        raise ValueError(f"dataset {name!r}: template={template!r} has no {{question}}; allowed: a text containing {{question}}")
    if isinstance(gen_length, bool) or not isinstance(gen_length, int) or gen_length < 1:
        raise ValueError(f"dataset {name!r}: gen_length={gen_length!r} is invalid; allowed: an integer >= 1")
    if answer not in ANSWER_FORMATS:
        raise ValueError(f"dataset {name!r}: answer={answer!r} is unknown; allowed: {', '.join(ANSWER_FORMATS)}")
    if hub is not None and not takes_path:
        raise ValueError(f"dataset {name!r}: a hub dataset takes a local copy as its path; allowed: takes_path=True with hub")

    def wrap(fn):
        entry = Dataset(name, fn, template, gen_length, answer, takes_path, hub, twin_key or plain_twin_key, development)
        old = DATASETS.get(name)
        if old is not None and _origin(old.load) != _origin(fn):  # re-importing the same module is fine
            raise ValueError(f"dataset {name!r} is already registered by {_origin(old.load)}; pick another name")
        DATASETS[name] = entry
        return fn

    return wrap


def dataset(name: str) -> Dataset:
    """The registered dataset `name`, or a ValueError naming what is allowed."""
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is unknown; allowed: {', '.join(sorted(DATASETS))} ({PLUGIN_HINT})")
    return DATASETS[name]


def distinct(problems: list, twin_key: Callable[[str], str]) -> tuple[list, int]:
    """(the first problem of each twin group, how many twins were left out). A model answers twins
    alike, so counting both would overstate n and every test built on it."""
    seen, kept = set(), []
    for p in problems:
        key = twin_key(p.question)
        if key not in seen:
            seen.add(key)
            kept.append(p)
    return kept, len(problems) - len(kept)


def _origin(fn) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)}"
