import json

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
