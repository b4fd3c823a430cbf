"""The bundled tiny model's tokenizer: word-level, every digit its own token, spaces kept as a marker.

A word-level vocabulary keeps the model tiny (a few hundred entries cover the `arith` generator),
and single-digit tokens make arithmetic learnable digit by digit. Spaces are folded into the next
token as a leading "▁" (so "▁The" and "The" are different entries, like SentencePiece), which makes
decoding exact: "The answer is 12." and "2.5" come back character for character, with no guessing
about where spaces went. Built with the `tokenizers` library and saved in the standard
`tokenizer.json` format, so `AutoTokenizer.from_pretrained(dir)` loads it offline.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

BOS, EOS, PAD, MASK, UNK = "<|bos|>", "<|eos|>", "<|pad|>", "<|mask|>", "<|unk|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, MASK, UNK]  # ids 0..4, in this order
SPACE = "▁"

# After spaces become "▁": a word, a digit, or one other character, each optionally led by "▁";
# then a lone "▁" (a space before a space or a newline) and any other whitespace (newlines).
_PIECE = rf"{SPACE}?[A-Za-z]+|{SPACE}?[0-9]|{SPACE}?[^A-Za-z0-9\s{SPACE}]|{SPACE}|\s"


def _pipeline() -> Tokenizer:
    """The tokenizer with its text pipeline but an empty vocabulary (used to cut text into pieces)."""
    tok = Tokenizer(models.WordLevel(vocab={UNK: 0}, unk_token=UNK))
    tok.normalizer = normalizers.Replace(" ", SPACE)
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(_PIECE), behavior="isolated")
    # Pieces already carry their spaces as "▁": turn the marker back into a space and glue pieces.
    tok.decoder = decoders.Sequence([decoders.Replace(SPACE, " "), decoders.Fuse()])
    return tok


def pieces(text: str, _tok: list = []) -> list[str]:
    """Cut text into the pieces the vocabulary is made of."""
    if not _tok:  # build the pipeline once: this runs for thousands of texts per vocabulary build
        _tok.append(_pipeline())
    tok = _tok[0]
    return [p for p, _ in tok.pre_tokenizer.pre_tokenize_str(tok.normalizer.normalize_str(text))]


def _corpus_words() -> list[str]:
    """Every piece the `arith` generator can emit, plus digits and ASCII punctuation in both forms.

    The word lists and templates are finite, so a large deterministic sample covers every word; the
    explicit digits and punctuation make any number and symbol encodable without an unknown token.
    """
    from t2m.data import arith

    words = set()
    base = [c for c in string.digits + string.punctuation]
    for c in base:
        words.update({c, SPACE + c})
    words.update({SPACE, "\n"})
    for lists in (arith.NAMES, arith.ITEMS, arith.GOODS, arith.RELATIVES, arith.DAYS,
                  [w for pair in arith.GROUPS + arith.PLACES for w in pair]):
        for w in lists:
            words.update(pieces(" " + w + "s") + pieces(" " + w))
    for p in arith.generate(5_000, seed=0):
        words.update(pieces(arith.TEMPLATE.replace("{question}", p.question)))
        words.update(pieces(p.target))
    # Every word also without its leading space, so any text made of these words encodes
    # (a sentence may start with any of them, e.g. a question put into another template).
    words.update({w[1:] for w in words if w.startswith(SPACE) and len(w) > 1})
    return sorted(words)


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the tokenizer from scratch (deterministic: same vocabulary and ids on every call)."""
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    for w in _corpus_words():
        vocab.setdefault(w, len(vocab))
    tok = _pipeline()
    tok.model = models.WordLevel(vocab=vocab, unk_token=UNK)
    # Plain `tokenizer(text)` starts with BOS, as the model was trained on.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tok.add_special_tokens(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        mask_token=MASK,
        unk_token=UNK,
        clean_up_tokenization_spaces=False,  # the decoder already restores spaces exactly
        model_max_length=512,
    )
