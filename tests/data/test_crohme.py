"""CROHME: ground truth with quoted multi-line labels, CROHME's LaTeX brought to our token form,
splits by year, labels that do not normalize counted, and eval reporting the expression rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from img2tex.data.crohme import canonical, normalize_crohme, read_crohme
from img2tex.data.layout import detect_layout, formulas_of, open_split
from img2tex.errors import DatasetError


@pytest.mark.parametrize(
    ("label", "tokens"),
    [
        ("x^{2} + y^{2} \\lt 1", "x ^ { 2 } + y ^ { 2 } < 1"),
        ("a \\gt b", "a > b"),
        ("\\mbox{a} + {b}", "a + b"),
        ("\\sum\\limits_{i=1}^{n} i", "\\sum _ { i = 1 } ^ { n } i"),
        ("x^2", "x ^ { 2 }"),
        ("\\frac{a}{b}", "\\frac { a } { b }"),
        ("{{x}}", "x"),
        ("u_n\\gtM", "u _ { n } > M"),  # run together in a few labels
        ("a \\ltimes b", "a \\ltimes b"),
    ],
)
def test_crohme_latex_in_our_token_form(label: str, tokens: str) -> None:
    assert normalize_crohme(label) == tokens


def test_canonical_keeps_arguments() -> None:
    assert canonical("\\sqrt { x } ^ { 2 } _ { i }") == "\\sqrt { x } ^ { 2 } _ { i }"
    assert canonical("\\frac { 1 } { 2 }") == "\\frac { 1 } { 2 }"
    assert canonical("{ a } + \\lt") == "a + <"


@pytest.fixture
def crohme_root(tmp_path: Path) -> Path:
    """train/KAIST/{a,b}.png, test/2013/c.png, test/2014/{d,e}.png; one training label quoted over
    two lines, one 2014 label that does not normalize."""
    root = tmp_path / "crohme"
    for rel in ("train/KAIST/a", "train/KAIST/b", "test/2013/c", "test/2014/d", "test/2014/e"):
        path = root / f"{rel}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        a = np.full((64, 64), 255, np.uint8)
        a[20:40, 10:50] = 0
        Image.fromarray(a).save(path)
    (root / "groundtruth_train.tsv").write_text('KAIST/a\tx^{2} \\lt 1\nKAIST/b\t"\\frac{a}{b}\n"\n')
    (root / "groundtruth_2013.tsv").write_text("c\t\\mbox{a} + b\n")
    (root / "groundtruth_2014.tsv").write_text("d\t a + b \ne\t\\lim _ {x}} y\n")
    return root


def test_splits_by_year_and_skipped_labels(crohme_root: Path) -> None:
    assert detect_layout(crohme_root) == "crohme"
    train = open_split(crohme_root, "train")
    assert [train.formula(i) for i in range(len(train))] == ["x ^ { 2 } < 1", "\\frac { a } { b }"]
    assert open_split(crohme_root, "validate").formula(0) == "a + b"  # 2013 is the validation set
    test = read_crohme(crohme_root, "test")
    assert len(test) == 1 and test.skipped == {"label failed to normalize": 1}
    assert test.rescale is True  # handwriting is read as predict reads a user's image
    assert formulas_of(crohme_root, "2014") == ["a + b"]
    with pytest.raises(DatasetError, match="2013"):
        open_split(crohme_root, "2019")


def test_eval_on_crohme_reports_the_expression_rate(crohme_root: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json
    import sys

    from img2tex.cli import main

    monkeypatch.setattr(sys, "argv", ["img2tex", "eval", str(crohme_root), "--split", "2014", "--beam", "1"])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (info.value.code or 0) == 0 and report["count"] == 1
    assert {"exact_match", "within_1", "within_2"} <= set(report)
    assert "1 example(s) of '2014' left out (label failed to normalize)" in err


def test_canonical_braces_every_argument() -> None:
    """`\\frac a b` and `\\frac { a } { b }` typeset alike: a reading in either spelling of a label
    in the other is right."""
    assert canonical("\\frac a b") == canonical("\\frac { a } { b }") == "\\frac { a } { b }"
    assert canonical("\\sqrt [ 3 ] x + \\sqrt \\frac 1 2") == "\\sqrt [ 3 ] { x } + \\sqrt { \\frac { 1 } { 2 } }"
    assert canonical("e ^ - \\alpha") == "e ^ { - } \\alpha"  # a script is one token when unbraced, as in TeX
    assert canonical("\\frac \\alpha { x + 1 }") == "\\frac { \\alpha } { x + 1 }"


def test_canonical_drops_bare_groups() -> None:
    # a group around the whole label or a part, which changes nothing drawn
    assert canonical("{ a + 1 }") == "a + 1"
    assert canonical("{ \\cdots - { x + R } }") == "\\cdots - x + R"
    assert canonical("\\left( { a + b } \\right)") == "\\left( a + b \\right)"
    # arguments, and groups that carry a script, stay
    assert canonical("{ a + b } ^ { 2 }") == "{ a + b } ^ { 2 }"
    assert canonical("\\hat { a + b } + \\frac { a + 1 } { 2 }") == "\\hat { a + b } + \\frac { a + 1 } { 2 }"
    assert canonical("\\begin { array } { l l } a \\end { array }") == "\\begin { array } { l l } a \\end { array }"
    assert canonical("{ a") == "{ a"
