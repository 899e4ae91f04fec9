import json
from pathlib import Path

import pytest

from img2tex.errors import ModelError
from img2tex.scoring.evaluate import evaluate


def test_evaluate_writes_predictions_and_report(model_dir, tmp_path, fake_split):
    src = fake_split(6)
    report = evaluate(
        model_dir, src, beam=2, limit=5, batch_size=2, out_dir=tmp_path / "out", progress=False, max_len=6, device="cpu"
    )
    assert report["count"] == 5
    for key in ("bleu", "edit_accuracy", "mean_edit_distance", "exact_match", "images_per_s"):
        assert key in report
    rows = (tmp_path / "out" / "predictions.tsv").read_text().splitlines()
    assert rows[0] == "name\tref\thyp" and len(rows) == 6
    name, ref, hyp = rows[1].split("\t")
    assert name == "img0" and ref == src.formula(0) and len(hyp.split()) <= 6
    assert json.loads((tmp_path / "out" / "report.json").read_text())["count"] == 5


def test_evaluate_bad_model_dir(tmp_path, fake_split):
    with pytest.raises(ModelError):
        evaluate(tmp_path / "missing", fake_split(2), progress=False)


def test_eval_on_the_distributed_layout_scores_as_predict_reads(distributed_root: Path, tmp_path: Path) -> None:
    """im2latex-100k as distributed (full pages at twice the glyph size): eval's answers are
    predict's, page for page, without any option; read as stored, they were not."""
    from img2tex.data.layout import open_split
    from img2tex.predict import Img2Tex, default_model_dir

    split = open_split(distributed_root, "test")
    pages = [distributed_root / "formula_images" / f"{split.name(i)}.png" for i in range(len(split))]
    predicted = [p.tokens for p in Img2Tex(beam=1).predict(pages)]
    report = evaluate(default_model_dir(), split, beam=1, progress=False, out_dir=tmp_path)
    rows = [line.split("\t") for line in (tmp_path / "predictions.tsv").read_text().splitlines()[1:]]
    assert {name: hyp for name, _, hyp in rows} == {split.name(i): predicted[i] for i in range(len(split))}
    refs = [split.formula(i) for i in range(len(split))]
    assert report["exact_match"] == pytest.approx(sum(p == r for p, r in zip(predicted, refs)) / len(refs))
    assert report["exact_match"] >= 0.5  # the shipped model reads most of these simple formulas
    as_stored = evaluate(default_model_dir(), split, beam=1, progress=False, scale=1.0)
    assert as_stored["bleu"] < report["bleu"]
