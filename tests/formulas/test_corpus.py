"""Corpus assembly on a tiny fake data folder: holdout, filters, dedup, and no test formula in any spelling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from img2tex.errors import DatasetError
from img2tex.formulas import corpus  # module import: pytest would collect a bare test_overlap
from img2tex.formulas.corpus import CorpusConfig, build_corpus, overlap_keys

VALIDATE = [
    "a + b = c",
    "x ^ { 2 } + y ^ { 2 } = r ^ { 2 }",
    "\\frac { 1 } { 2 } m v ^ { 2 }",
    "E = m c ^ { 2 }",
    "\\alpha _ { i } \\beta _ { j }",
    "\\sum _ { n } a _ { n } = 0",
]
TEST = [
    "f ( x ) = \\sin x",  # the dataset's own spelling, compared verbatim
    "{ p _ { \\mu } } p ^ { \\mu } = m ^ { 2 }",  # equals `p_\mu p^\mu = m^2` only with braces removed
    "\\int _ { 0 } ^ { 1 } d t \\, g ( t )",
]


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture()
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    rows = ["formula_idx\tsplit\timage_name\tsource\tnorm_formula"]
    rows += [f"{i}\tvalidate\tval{i}\tfake\t{f}" for i, f in enumerate(VALIDATE)]
    rows += [f"{100 + i}\ttest\ttest{i}\tfake\t{f}" for i, f in enumerate(TEST)]
    _write(root / "im2latex-100k/formulas/val_test_normalized_by_idx.tsv", "\n".join(rows) + "\n")
    sample = ["k_1+k_2=q", "\\int_0^1 dt\\, g(t)", "z=\\bar w"]
    _write(root / "im2latex-100k/sample/formulas.raw.lst", "\n".join(sample) + "\n")
    _write(
        root / "im2latex-100k/sample/sample_to_zenodo_index.tsv",
        "sample_formula_idx\tzenodo_formula_idx\tsplit\timage_name\n0\t7\ttrain\tt0\n1\t102\ttest\ts1\n2\t9\ttrain\tt2\n",
    )
    long_formula = " + ".join(["x"] * 100)  # 199 tokens
    _write(root / "formula-corpus/a.txt", "u_n = v_n\nu_n = v_n\nk_1 + k_2 = q\n" + long_formula + "\n")
    _write(root / "formula-corpus/b.txt", "\\frac{a}{b\n\n")
    hepth = [
        "f(x)=\\sin x",  # test formula, exact after normalization
        "p_\\mu p^\\mu = m^2",  # test formula, braces removed
        "\\int_0^1dt\\,g(t)",  # test formula, raw spelling with other whitespace
        *VALIDATE,  # holdout ones must go (val overlap), the others are duplicates
        "\\omega_0 = 2\\pi \\nu",
    ]
    _write(root / "hepth-formulas/1992.txt", "\n".join(hepth) + "\n")
    # a latin-1 byte must not break reading
    (root / "hepth-formulas/1993.txt").write_bytes(b"\\mbox{caf\xe9} = x_1\n")
    return root


def _cfg(data_dir: Path, **kw: object) -> CorpusConfig:
    return CorpusConfig(data_dir=data_dir, n_synthetic=40, val_holdout=2, seed=1, **kw)  # type: ignore[arg-type]


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_build_corpus(tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "out"
    report = build_corpus(_cfg(data_dir), out)
    train, sources = _lines(out / "train.lst"), _lines(out / "sources.tsv")
    val, test = _lines(out / "val.lst"), _lines(out / "test.lst")

    # holdout: 2 validate formulas kept out, the other 4 train; names follow the formulas
    assert len(val) == 2 and set(val) <= set(VALIDATE)
    assert _lines(out / "val_names.lst") == [f"val{VALIDATE.index(f)}" for f in val]
    assert [f for f in VALIDATE if f not in val] == train[:4]
    assert test == TEST and _lines(out / "test_names.lst") == ["test0", "test1", "test2"]

    # no test or held-out formula in any spelling
    assert corpus.test_overlap(train, TEST) == 0 and corpus.test_overlap(train, val) == 0
    assert report["train_test_overlap"] == 0 and report["train_val_overlap"] == 0
    src = report["sources"]
    assert sum(src["hepth"]["test_overlap"].values()) == 3
    assert src["hepth"]["test_overlap"]["no_space_no_brace"] >= 1
    assert sum(src["hepth"]["val_overlap"].values()) == 2
    assert src["im2latex_sample_train"]["read"] == 2  # the sample's test formula is not read

    # filters and dedup
    assert len(train) == len(set(train)) == len(sources) == report["train"]
    assert src["formula_corpus"]["too_long"] == 1
    assert src["formula_corpus"]["normalize_failed"] + src["formula_corpus"]["empty"] == 2
    assert src["formula_corpus"]["duplicates"] == 2  # second u_n = v_n, and k_1+k_2=q from the sample
    assert src["hepth"]["duplicates"] == 4
    assert src["synthetic"]["kept"] == 40
    assert all(0 < len(f.split(" ")) <= 150 for f in train)
    assert sources.count("synthetic") == 40 and sources[0] == "im2latex_validate"
    assert any("\xe9" in f for f in train)

    saved = json.loads((out / "corpus_report.json").read_text(encoding="utf-8"))
    assert saved["train"] == len(train)


def test_deterministic(tmp_path: Path, data_dir: Path) -> None:
    build_corpus(_cfg(data_dir), tmp_path / "a")
    build_corpus(_cfg(data_dir), tmp_path / "b")
    for name in ("train.lst", "val.lst", "sources.tsv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_missing_data_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError):
        build_corpus(_cfg(tmp_path / "nowhere"), tmp_path / "out")


def test_overlap_keys_three_spellings() -> None:
    assert overlap_keys("{ x _ { i } } + y") == ("{ x _ { i } } + y", "{x_{i}}+y", "x_i+y", "x_i+y")
    assert overlap_keys("\\left( a ^ { \\prime } \\right) \\, .")[3] == "(a^')"
    # normalizers disagree on text boxes: \\hbox{for $r$.} vs \\mathrm{for~r~.}
    assert corpus.test_overlap(["\\hbox { f o r ~ $ r $ . }"], ["\\mathrm { f o r ~ r ~ . }"]) == 1
    assert corpus.test_overlap(["\\, ."], ["\\quad ,"]) == 0  # an empty loose key matches nothing
    assert corpus.test_overlap(["x _ { i } + y"], ["{ x _ { i } } + y"]) == 1
    assert corpus.test_overlap(["x _ { i }  + y"], ["x _ { i } + y"]) == 1
    assert corpus.test_overlap(["x _ { j } + y"], ["x _ { i } + y"]) == 0
