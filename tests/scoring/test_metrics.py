import pytest

from img2tex.scoring.metrics import bleu, edit_distances, score


def test_edit_distance_hand_computed():
    # "a + b" -> "a - b c": one substitution, one insertion = 2; max length 4.
    assert edit_distances(["a + b"], ["a - b c"]) == [(2, 4)]


def test_score_hand_computed():
    refs = ["a + b", "x ^ { 2 }", "\\alpha"]
    hyps = ["a - b c", "x ^ { 2 }", ""]
    s = score(refs, hyps)
    # lev: 2, 0, 1 ; max lens: 4, 5, 1
    assert s["count"] == 3
    assert s["edit_accuracy"] == pytest.approx(1 - 3 / 10)
    assert s["mean_edit_distance"] == pytest.approx((2 / 4 + 0 + 1 / 1) / 3)
    assert s["exact_match"] == pytest.approx(1 / 3)


def test_bleu_perfect_and_tokenization_none():
    refs = ["\\frac { a } { b } + c", "x _ { 1 } + x _ { 2 }"]
    assert bleu(refs, refs) == pytest.approx(100.0)
    # With tokenize='none', "{a}" is one token and never matches "{ a }" pieces.
    assert bleu(["{a} {b} {c} {d}"], ["{ a } { b }"]) == pytest.approx(0.0)


def test_bleu_hand_computed():
    # ref 6 tokens, hyp 5 tokens (one wrong): matches 1-gram 4/5, 2-gram 2/4, 3-gram 1/3, 4-gram 0/2
    # -> sacrebleu's default 'exp' smoothing handles the zero; check against the formula directly.
    import math

    ref, hyp = "a b c d e f", "a b c x e"
    precisions = [4 / 5, 2 / 4, 1 / 3]
    # 'exp' smoothing: the first zero-count precision n is replaced by 1 / (2 ** 1 * total_n)
    p4 = 1 / (2 * 2)
    bp = math.exp(1 - 6 / 5)
    expected = 100 * bp * math.exp(sum(math.log(p) for p in precisions + [p4]) / 4)
    assert bleu([ref], [hyp]) == pytest.approx(expected, rel=1e-6)


def test_empty_inputs():
    s = score([], [])
    assert s["count"] == 0 and s["bleu"] == 0.0
