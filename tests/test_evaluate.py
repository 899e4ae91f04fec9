import json

import pytest

from img2tex.checkpoint import save_model
from img2tex.errors import ModelError
from img2tex.evaluate import evaluate
from img2tex.images import ImageConfig
from img2tex.architecture import ModelConfig
from img2tex.model import Img2TexModel
from img2tex.vocab import build_vocab
from tests.test_pipeline import FakeSource


@pytest.fixture
def model_dir(tmp_path):
    src = FakeSource(6)
    vocab = build_vocab(src.formula(i).split() for i in range(len(src)))
    cfg = ModelConfig(vocab_size=len(vocab), enc_blocks=[(8, 1, 2, 2), (16, 1, 2, 2), (16, 1, 2, 2)], emb_dim=8,
                      hidden_dim=16, attn_dim=8)
    save_model(tmp_path / "m", Img2TexModel(cfg), vocab, ImageConfig())
    return tmp_path / "m"


def test_evaluate_writes_predictions_and_report(model_dir, tmp_path):
    src = FakeSource(6)
    report = evaluate(model_dir, src, beam=2, limit=5, batch_size=2, out_dir=tmp_path / "out", progress=False,
                      max_len=6, device="cpu")
    assert report["count"] == 5
    for key in ("bleu", "edit_accuracy", "mean_edit_distance", "exact_match", "images_per_s"):
        assert key in report
    rows = (tmp_path / "out" / "predictions.tsv").read_text().splitlines()
    assert rows[0] == "name\tref\thyp" and len(rows) == 6
    name, ref, hyp = rows[1].split("\t")
    assert name == "img0" and ref == src.formula(0) and len(hyp.split()) <= 6
    assert json.loads((tmp_path / "out" / "report.json").read_text())["count"] == 5


def test_evaluate_bad_model_dir(tmp_path):
    with pytest.raises(ModelError):
        evaluate(tmp_path / "missing", FakeSource(2), progress=False)
