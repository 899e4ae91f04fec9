"""Synthetic formulas: deterministic, distinct, canonical, within limits, with im2latex's construct mix."""

from __future__ import annotations

import re

import pytest

from img2tex.formulas.synth import SynthConfig, construct_profile, generate
from img2tex.tokenizer import normalize, tokenize

N = 400


@pytest.fixture(scope="module")
def formulas() -> list[str]:
    return generate(N, seed=3)


def test_deterministic_per_seed(formulas: list[str]) -> None:
    assert generate(N, seed=3) == formulas
    assert generate(N, seed=4) != formulas


def test_count_and_distinct(formulas: list[str]) -> None:
    assert len(formulas) == N
    assert len(set(formulas)) == N
    assert generate(0, seed=1) == []


def test_within_token_limits(formulas: list[str]) -> None:
    cfg = SynthConfig()
    assert all(cfg.min_tokens <= len(f.split(" ")) <= cfg.max_tokens for f in formulas)
    short = generate(100, seed=5, cfg=SynthConfig(max_tokens=20))
    assert max(len(f.split(" ")) for f in short) <= 20


def test_canonical_form(formulas: list[str]) -> None:
    """Already normalized: the tokenizer splits exactly on the spaces and normalize changes nothing.

    Array cells and \\overline/\\underline arguments are the exception: im2latex's normalization
    adds a brace pair to them on every pass, so the canonical form is not a fixed point there.
    """
    checked = 0
    for f in formulas:
        assert tokenize(f) == f.split(" "), f
        if not re.search(r"\\begin\{|\\overline|\\underline", f):
            assert normalize(f) == f, f
            checked += 1
    assert checked > N // 2


def test_balanced_groups(formulas: list[str]) -> None:
    for f in formulas:
        toks = f.split(" ")
        depth = 0
        for t in toks:
            depth += (t == "{") - (t == "}")
            assert depth >= 0, f
        assert depth == 0, f
        lefts = sum(t.startswith("\\left") and not t[5:6].isalpha() for t in toks)  # not \\leftarrow
        rights = sum(t.startswith("\\right") and not t[6:7].isalpha() for t in toks)
        assert lefts == rights, f
        assert toks.count("\\begin{array}") == toks.count("\\end{array}"), f


def test_only_safe_commands(formulas: list[str]) -> None:
    """Nothing that could change TeX state or needs a package beyond amsmath/amssymb."""
    words = {w for f in formulas for w in re.findall(r"\\[A-Za-z]+", f)}
    assert not words & {"\\def", "\\input", "\\write", "\\hspace", "\\boldmath", "\\label", "\\newcommand"}


def test_construct_mix(formulas: list[str]) -> None:
    prof = construct_profile(formulas)
    # im2latex validate: fraction 0.46, subscript 0.81, superscript 0.79, left_right 0.24,
    # array 0.044, accent 0.25, greek 0.80, big_operator 0.21
    assert 0.3 < prof["fraction"] < 0.7
    assert prof["subscript"] > 0.6 and prof["superscript"] > 0.6
    assert 0.1 < prof["left_right"] < 0.45
    assert 0.01 < prof["array"] < 0.1
    assert 0.1 < prof["accent"] < 0.45
    assert 0.1 < prof["big_operator"] < 0.4
    assert prof["greek"] > 0.6
    for name in ("mathrm", "calligraphic", "bold", "spacing", "prime", "sqrt", "operatorname", "bracket"):
        assert prof[name] > 0.02, name
    assert 30 <= prof["len_median"] <= 70


def test_profile_of_nothing_is_empty() -> None:
    assert construct_profile([]) == {}
    assert construct_profile(["\\frac { 1 } { 2 }"])["fraction"] == 1.0
