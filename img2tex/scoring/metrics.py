"""Scores for predicted formulas, all over normalized, space-separated token strings.

* BLEU-4: sacrebleu corpus BLEU with tokenize='none' (the tokens are already LaTeX tokens, so
  sacrebleu's own word splitting would be wrong), one reference per image, 0-100.
* edit distance: token-level Levenshtein; `mean_edit_distance` averages lev / max(len_ref, len_hyp)
  per formula (0 = perfect); `edit_accuracy` is im2markup's corpus-level
  1 - sum(lev) / sum(max(len_ref, len_hyp)).
* exact match: share of formulas whose token sequence equals the reference (on CROHME, the
  expression rate); `within_1` and `within_2`: shares at most 1 and 2 token edits away (as
  handwriting results are reported).
"""

from __future__ import annotations

from collections.abc import Sequence

import editdistance


def bleu(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus BLEU-4 (0-100) of token strings; sacrebleu is imported here to keep import time low."""
    import sacrebleu

    if len(refs) != len(hyps):
        raise ValueError("refs and hyps differ in length")
    if not refs:
        return 0.0
    # force=True: the input is tokenized on purpose, so sacrebleu's "forgot to detokenize" warning
    # (printed on stderr whenever many lines end in " .") would only be noise in eval's output.
    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)], tokenize="none", force=True).score)


def edit_distances(refs: Sequence[str], hyps: Sequence[str]) -> list[tuple[int, int]]:
    """Per formula: (token Levenshtein distance, max(len_ref, len_hyp))."""
    out = []
    for r, h in zip(refs, hyps, strict=True):
        rt, ht = r.split(), h.split()
        out.append((int(editdistance.eval(rt, ht)), max(len(rt), len(ht))))
    return out


def score(refs: Sequence[str], hyps: Sequence[str]) -> dict[str, float]:
    """All metrics at once: bleu, edit_accuracy, mean_edit_distance, exact_match, within_1,
    within_2, count."""
    dists = edit_distances(refs, hyps)
    n = len(dists)
    total = sum(m for _, m in dists)
    return {
        "count": n,
        "bleu": bleu(refs, hyps),
        "edit_accuracy": 1.0 - sum(d for d, _ in dists) / total if total else 1.0,
        "mean_edit_distance": sum(d / m if m else 0.0 for d, m in dists) / n if n else 0.0,
        "exact_match": sum(r.split() == h.split() for r, h in zip(refs, hyps)) / n if n else 0.0,
        "within_1": sum(d <= 1 for d, _ in dists) / n if n else 0.0,
        "within_2": sum(d <= 2 for d, _ in dists) / n if n else 0.0,
    }
