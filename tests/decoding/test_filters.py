"""The well-formed-LaTeX filter: what it rules out, that it never rules out a real formula, that
searches under it only write LaTeX that closes, and that cut-off answers are closed."""

from __future__ import annotations

import numpy as np
import pytest

from img2tex.decoding.filters import WellFormed, is_well_formed

TOKENS = [
    "<pad>", "<s>", "</s>", "<unk>", "{", "}", "^", "_", "x", "2", "\\frac", "\\left(", "\\right)",
    "\\leftarrow", "\\begin{array}", "\\end{array}", "\\begin{matrix}", "\\end{matrix}", "&", "\\\\", "c",
]  # fmt: skip
EOS = 2


@pytest.fixture
def filt() -> WellFormed:
    return WellFormed(TOKENS, EOS, never=(0, 1, 3))


def ok(filt: WellFormed, formula: str) -> bool:
    return is_well_formed(formula.split(), filt)


@pytest.mark.parametrize(
    "formula",
    [
        "x ^ { 2 }",
        "\\frac { x } { 2 }",
        "\\frac x 2",
        "\\left( x \\right) ^ 2",
        "x \\leftarrow x",
        "\\begin{array} { c c } { x } & { 2 } \\\\ { 2 } & { x } \\end{array}",
        "\\begin{matrix} x & 2 & x \\\\ 2 \\end{matrix}",
        "{ { x } _ { 2 } }",
    ],
)
def test_real_latex_passes(filt: WellFormed, formula: str) -> None:
    assert ok(filt, formula)


@pytest.mark.parametrize(
    "formula",
    [
        "x }",  # a brace closed that was never opened
        "{ x",  # the end with a brace open
        "x \\right)",  # \right without \left
        "\\left( x",  # \left never closed
        "\\left( { x \\right) }",  # crossed groups
        "x ^",  # a script without its argument
        "x ^ _ 2",  # ... or with a script as its argument
        "\\frac { x }",  # \frac with one argument of two
        "\\begin{array} { c } x \\end{matrix}",  # environments that do not pair
        "\\begin{array} { c c } x & 2 & x \\end{array}",  # more cells than columns
        "x <pad>",  # tokens never written
    ],
)
def test_broken_latex_is_refused(filt: WellFormed, formula: str) -> None:
    assert not ok(filt, formula)


def test_apply_sets_forbidden_tokens_to_minus_infinity_per_row(filt: WellFormed) -> None:
    filt.start(2)
    filt.advance(np.array([0, 1]), np.array([4, 8]))  # row 0: "{", row 1: "x"
    logp = np.zeros((2, len(TOKENS)))
    filt.apply(logp)
    assert logp[0, EOS] == -np.inf and logp[0, 5] == 0  # inside a group: no end, "}" allowed
    assert logp[1, EOS] == 0 and logp[1, 5] == -np.inf  # at the top: the end allowed, "}" not
    assert (logp[:, [0, 1, 3]] == -np.inf).all()
    filt.advance(np.array([1, 1]), np.array([6, 8]))  # both rows now continue row 1
    assert filt.states[0] != filt.states[1]


def test_cut_off_answers_are_closed(filt: WellFormed) -> None:
    index = {t: i for i, t in enumerate(TOKENS)}
    cut = [index[t] for t in "\\left( \\frac { x } { 2 ^".split()]
    assert " ".join(TOKENS[i] for i in filt.closed(cut)) == "\\left( \\frac { x } { 2 ^ { } } \\right)"
    cut = [index[t] for t in "\\left( \\frac x".split()]
    assert " ".join(TOKENS[i] for i in filt.closed(cut)) == "\\left( \\frac x { } \\right)"
    array = [index[t] for t in "\\begin{array} { c".split()]
    assert ok(filt, " ".join(TOKENS[i] for i in filt.closed(array)))


def test_every_validation_formula_passes(shared_im2latex) -> None:  # type: ignore[no-untyped-def]
    """The filter never rules out a reference: all in-vocabulary im2latex-100k validation formulas."""
    from img2tex.data.folders import read_formulas_tsv
    from img2tex.network.folder import load_config, load_vocab
    from img2tex.predict import default_model_dir

    model_cfg, _, _ = load_config(default_model_dir())
    vocab = load_vocab(default_model_dir(), model_cfg)
    real = WellFormed(vocab.tokens, vocab.eos_id, never=(vocab.pad_id, vocab.bos_id, vocab.unk_id))
    formulas = read_formulas_tsv(shared_im2latex / "formulas" / "val_test_normalized_by_idx.tsv", "validate")
    known = [f.split() for f in formulas if all(t in vocab for t in f.split())]
    refused = [" ".join(f) for f in known if not is_well_formed(f, real)]
    assert len(known) > 8000 and refused == []
