import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.numpy import load_file, save_file

from img2tex.architecture import ModelConfig
from img2tex.checkpoint import save_model
from img2tex.decoding import greedy
from img2tex.errors import ModelError
from img2tex.hypotheses import DecodeConfig
from img2tex.images import ImageConfig
from img2tex.model import Img2TexModel
from img2tex.numpy_model import NumpyModel
from img2tex.data.pipeline import collate_images
from img2tex.predict import Predictor, pick_engine
from img2tex.vocab import build_vocab


def image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.full((h, w), 255, np.uint8)
    for _ in range(6):  # a few dark strokes with grey edges
        y, x = rng.integers(2, h - 6), rng.integers(2, w - 12)
        a[y : y + 4, x : x + 10] = rng.integers(0, 160)
    return a


def saved_model(path, cell: str) -> tuple[Img2TexModel, object]:
    """A small random model whose batchnorms have non-trivial statistics (so folding them into
    the convolutions is exercised) and a sharp output layer (so greedy decoding is decisive)."""
    vocab = build_vocab([list("abcdefgh"), ["\\frac", "{", "}", "^", "_"]])
    cfg = ModelConfig(vocab_size=len(vocab), enc_blocks=[(8, 1, 2, 2), (16, 2, 2, 1), (16, 1, 1, 2)], emb_dim=8,
                      hidden_dim=16, attn_dim=8, cell=cell)
    torch.manual_seed(1)
    m = Img2TexModel(cfg)
    with torch.no_grad():
        for norm in m.encoder.norms:
            norm.running_mean.uniform_(-0.3, 0.3)
            norm.running_var.uniform_(0.5, 2.0)
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.2, 0.2)
        m.out_proj.weight.mul_(8.0)
    m.eval()
    save_model(path, m, vocab, ImageConfig())
    return m, vocab


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_log_probabilities_match_torch(tmp_path, cell):
    m, vocab = saved_model(tmp_path / "m", cell)
    nm = NumpyModel(tmp_path / "m")
    a = image(37, 101, 0)  # not a multiple of the bucket: padding and masks matter
    feats, keys, mask = nm.encode(a)
    h, c = nm.init_state(feats, mask)
    images, imask = collate_images([a], 16)
    with torch.no_grad():
        state = m.init_state(m.encode(images, imask))
        assert np.allclose(feats, state.memory.feats[0].numpy(), atol=1e-4)
        assert mask.tolist() == state.memory.mask[0].tolist()
        for tok in [vocab.bos_id, 5, 7, 9, 4]:
            logp, h, c = nm.step(h, c, tok, feats, keys, mask)
            logp_t, state = m.step(state, torch.tensor([tok]))
            assert np.allclose(logp, logp_t[0].numpy(), atol=1e-4), tok


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_matches_torch(tmp_path, cell):
    m, vocab = saved_model(tmp_path / "m", cell)
    nm = NumpyModel(tmp_path / "m")
    cfg = DecodeConfig(max_len=30, loop_tokens=12)
    for seed, (h, w) in enumerate([(30, 60), (45, 160), (20, 33)]):
        a = image(h, w, seed)
        images, mask = collate_images([a], 16)
        ref = greedy(m, images, mask, cfg, vocab.bos_id, vocab.eos_id)[0]
        got = nm.greedy(a, cfg)
        assert got.tokens == ref.tokens and got.finished == ref.finished
        assert got.score == pytest.approx(ref.score, abs=1e-4)


def test_predictor_engines_agree_and_auto_picks_by_workload(tmp_path):
    saved_model(tmp_path / "m", "lstm")
    files = []
    for k in range(3):
        files.append(tmp_path / f"{k}.png")
        Image.fromarray(image(30 + 5 * k, 90, k)).save(files[-1])
    by_engine = {}
    for engine in ("numpy", "torch"):
        pr = Predictor(tmp_path / "m", device="cpu", beam=1, max_len=20, engine=engine)
        by_engine[engine] = [(p.latex, round(p.score, 3)) for p in pr.predict_paths(files)]
    assert by_engine["numpy"] == by_engine["torch"]
    auto = Predictor(tmp_path / "m", device="cpu", beam=1, max_len=20)
    list(auto.predict_paths(files[:1]))
    assert auto.engine == "numpy"
    assert pick_engine(1, 5, "auto") == pick_engine(100, 1, "auto") == pick_engine(1, 1, "cuda") == "torch"
    with pytest.raises(ModelError, match="greedily"):
        Predictor(tmp_path / "m", beam=5, engine="numpy")


def test_mismatched_weights_are_one_clear_error(tmp_path):
    saved_model(tmp_path / "m", "lstm")
    weights = tmp_path / "m" / "model.safetensors"
    t = load_file(str(weights))
    t["rnn.weight_hh"] = t["rnn.weight_hh"][:, :8].copy()
    save_file(t, str(weights))
    with pytest.raises(ModelError, match="rnn.weight_hh has shape"):
        NumpyModel(tmp_path / "m")
    del t["rnn.weight_hh"]
    save_file(t, str(weights))
    with pytest.raises(ModelError, match="lack rnn.weight_hh"):
        NumpyModel(tmp_path / "m")
    weights.write_bytes(b"junk")
    with pytest.raises(ModelError, match="not a readable safetensors"):
        NumpyModel(tmp_path / "m")


def test_predicting_one_image_never_imports_torch(tmp_path):
    saved_model(tmp_path / "m", "lstm")
    png = tmp_path / "one.png"
    Image.fromarray(image(30, 90, 0)).save(png)
    code = ("import sys\nfrom img2tex.cli import main\n"
            f"sys.argv = ['img2tex', 'predict', {str(png)!r}, '--model', {str(tmp_path / 'm')!r}]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "False"
    assert r.stdout.strip()  # and it printed a formula
