"""Token vocabulary: the fixed mapping between dataset tokens and model ids.

Ids must never depend on iteration order of a set or dict, or a model trained on one
machine would decode garbage on another; so ids are: the four specials (0..3), then
tokens by count (most frequent first), ties broken by the token text.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from img2tex.errors import DatasetError
from img2tex.fileio import atomic_write_text

__all__ = ["PAD", "BOS", "EOS", "UNK", "SPECIALS", "Vocab", "build_vocab", "coverage"]

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
_FORMAT = "img2tex-vocab"
_VERSION = 1


@dataclass
class Vocab:
    """Tokens in id order (specials first) and the training counts they were built from.

    `counts` is kept so that `img2tex vocab` can report frequencies and a vocabulary can be
    rebuilt with a different `min_count` without re-reading the corpus.
    """

    tokens: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the specials {list(SPECIALS)}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary must not repeat a token")
        self._ids = {tok: i for i, tok in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    pad_id = property(lambda self: 0, doc="Id of <pad>.")
    bos_id = property(lambda self: 1, doc="Id of <s>.")
    eos_id = property(lambda self: 2, doc="Id of </s>.")
    unk_id = property(lambda self: 3, doc="Id of <unk>.")

    def id(self, token: str) -> int:
        """Id of one token; unknown tokens map to <unk>."""
        return self._ids.get(token, 3)

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Token ids, unknown tokens as <unk>; no <s>/</s> are added (callers frame sequences)."""
        return [self._ids.get(t, 3) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens for ids, stopping at the first </s> and dropping <pad>, <s>, <unk>.

        Out-of-range ids are dropped too: a decoder must never crash on a model's output.
        """
        out: list[str] = []
        n = len(self.tokens)
        for i in ids:
            i = int(i)
            if i == 2:
                break
            if 3 < i < n:
                out.append(self.tokens[i])
        return out

    def text(self, ids: Iterable[int]) -> str:
        """`decode` joined by single spaces: the normalized token form metrics compare."""
        return " ".join(self.decode(ids))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: format tag, tokens in id order, counts."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "tokens": list(self.tokens),
            "counts": {t: int(self.counts.get(t, 0)) for t in self.tokens[len(SPECIALS) :]},
        }

    @classmethod
    def from_dict(cls, d: Any) -> Vocab:
        """Inverse of `to_dict`; raises DatasetError on anything that is not a vocabulary."""
        if not isinstance(d, dict) or not isinstance(d.get("tokens"), list):
            raise DatasetError("not a vocabulary: expected a JSON object with a 'tokens' list")
        tokens = d["tokens"]
        counts = d.get("counts", {})
        if not all(isinstance(t, str) for t in tokens) or not isinstance(counts, dict):
            raise DatasetError("not a vocabulary: tokens must be strings and counts an object")
        if not all(isinstance(v, int) for v in counts.values()):
            raise DatasetError("not a vocabulary: counts must be integers")
        try:
            return cls(tokens=list(tokens), counts=dict(counts))
        except ValueError as exc:
            raise DatasetError(f"not a vocabulary: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write as JSON atomically (a crash never leaves a half-written vocabulary)."""
        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by `save`; DatasetError (one line) if missing or corrupt."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DatasetError(f"vocabulary file not found: {p}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read vocabulary file {p}: {exc}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"corrupt vocabulary file {p}: {exc.msg} at line {exc.lineno}") from None
        try:
            return cls.from_dict(data)
        except DatasetError as exc:
            raise DatasetError(f"{p}: {exc}") from None


def build_vocab(token_lists: Iterable[list[str]], min_count: int = 1) -> Vocab:
    """Vocabulary of the tokens seen at least `min_count` times, with stable ids.

    Specials in the input are not counted (they would otherwise get a second id).
    """
    if min_count < 1:
        raise ValueError("min_count must be >= 1")
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    for s in SPECIALS:
        counts.pop(s, None)
    kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
    return Vocab(tokens=list(SPECIALS) + kept, counts={t: counts[t] for t in kept})


def coverage(vocab: Vocab, token_lists: Iterable[list[str]]) -> dict[str, Any]:
    """How well `vocab` covers a corpus: what `img2tex vocab` prints.

    Returns formulas, tokens, unknown_tokens, unknown_rate (share of token occurrences not in
    the vocabulary), token_coverage (1 - unknown_rate), formulas_with_unknown and
    formula_coverage (share of formulas with no unknown token), and top_unknown (the 10
    commonest unknown tokens with counts).
    """
    n_formulas = n_tokens = n_unknown = n_bad_formulas = 0
    unknown: Counter[str] = Counter()
    for tokens in token_lists:
        n_formulas += 1
        n_tokens += len(tokens)
        missing = [t for t in tokens if t not in vocab or t in SPECIALS]
        if missing:
            n_bad_formulas += 1
            n_unknown += len(missing)
            unknown.update(missing)
    unk_rate = n_unknown / n_tokens if n_tokens else 0.0
    return {
        "formulas": n_formulas,
        "tokens": n_tokens,
        "unknown_tokens": n_unknown,
        "unknown_rate": unk_rate,
        "token_coverage": 1.0 - unk_rate,
        "formulas_with_unknown": n_bad_formulas,
        "formula_coverage": (1.0 - n_bad_formulas / n_formulas) if n_formulas else 1.0,
        "top_unknown": unknown.most_common(10),
    }
