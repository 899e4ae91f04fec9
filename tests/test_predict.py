import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from img2tex.errors import ImageError, ModelError
from img2tex.predict import Img2Tex, default_model_dir, find_images, shipped_model_names


def write_png(path, i=0):
    a = np.full((30, 60 + 10 * i), 255, np.uint8)
    a[15, 5:50] = 0
    a[5:25, 10 + i] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)


@pytest.fixture
def images(tmp_path):
    root = tmp_path / "imgs"
    write_png(root / "a.png", 0)
    write_png(root / "sub" / "b.jpg", 1)
    write_png(root / "sub" / "c.PNG", 2)
    (root / "notes.txt").write_text("not an image")
    (root / "broken.png").write_bytes(b"not a png")
    return root


def test_find_images_recursive(images):
    found = [rel.as_posix() for _, rel in find_images([images])]
    assert found == ["a.png", "broken.png", "sub/b.jpg", "sub/c.PNG"]
    assert find_images([images / "a.png"]) == [(images / "a.png", images.joinpath("a.png").relative_to(images))]


def test_predict_goes_on_after_errors_and_mirrors_tex(model_dir, images, tmp_path):
    out = tmp_path / "tex"
    reader = Img2Tex(model_dir, beam=2, batch_size=2, device="cpu", max_len=5)
    preds = list(reader.predict_paths([images, tmp_path / "missing.png"], out_dir=out))
    assert [p.path.name for p in preds] == ["a.png", "broken.png", "b.jpg", "c.PNG", "missing.png"]
    bad = {p.path.name: p.error for p in preds if not p.ok}
    assert set(bad) == {"broken.png", "missing.png"}
    assert all(name in msg for name, msg in bad.items())  # each error line names its file
    for p in preds:
        if p.ok:
            assert p.tex_path.read_text() == p.latex + "\n" and p.score <= 0
    assert (out / "sub" / "b.tex").exists() and (out / "a.tex").exists()
    # --format tokens writes the token form instead
    tokens = list(reader.predict_paths([images / "a.png"], out_dir=tmp_path / "tok", fmt="tokens"))[0]
    assert (tmp_path / "tok" / "a.tex").read_text() == tokens.tokens + "\n"


def test_predict_takes_paths_bytes_pil_and_arrays(model_dir, images):
    """One image gives a Prediction (ImageError when unreadable); a list gives one per item,
    in order, whatever each item is; the same pixels give the same answer every way."""
    reader = Img2Tex(model_dir, beam=1, device="cpu", max_len=6)
    path = images / "a.png"
    one = reader.predict(path)
    assert one.ok and one.path == path and one.tokens is not None
    pil = Image.open(path)
    many = reader.predict([str(path), path.read_bytes(), pil, np.asarray(pil), b"junk"])
    assert [p.tokens for p in many[:4]] == [one.tokens] * 4
    assert [p.path for p in many] == [path, None, None, None, None]
    assert not many[4].ok and many[4].error.startswith("image 5:")
    with pytest.raises(ImageError, match="not an image"):
        reader.predict(b"junk")
    with pytest.raises(ImageError, match="no such file"):
        reader.predict(images / "missing.png")
    assert reader.predict([]) == []


def test_batched_equals_single(model_dir, images):
    pr = Img2Tex(model_dir, device="cpu", beam=3, max_len=6, batch_size=8)
    files = [images / "a.png", images / "sub" / "b.jpg", images / "sub" / "c.PNG"]
    batched = [(p.tokens, p.score) for p in pr.predict_paths(files)]
    single = [pr.predict_arrays([pr.prepare(f)])[0] for f in files]
    assert [b[0] for b in batched] == [s[0] for s in single]


def test_default_model_dir_missing_or_present():
    try:
        d = default_model_dir()
    except ModelError as exc:
        assert "no default model shipped yet" in str(exc)
    else:
        assert (d / "config.json").is_file()


def test_shipped_model_reads_the_examples():
    """The model in models/default loads (weights, config and vocabulary agree) and reads the
    README's example images: most tokens right everywhere, and some formulas exactly."""
    from pathlib import Path

    from img2tex.data.layout import open_split
    from img2tex.scoring.metrics import score

    try:
        model_dir = default_model_dir()
    except ModelError:
        pytest.skip("no default model shipped")
    examples = Path(__file__).resolve().parents[1] / "examples"
    source = open_split(examples, "test")  # the plain layout: images + labels.tsv
    labels = {source.name(i): source.formula(i) for i in range(len(source))}
    pages = sorted(examples.glob("*.png"))  # examples/handwritten/ is the handwritten model's
    preds = {p.path.stem: p for p in Img2Tex(model_dir, device="cpu").predict_paths(pages)}
    assert sorted(preds) == sorted(labels)
    assert all(p.ok for p in preds.values())
    names = sorted(labels)
    s = score([labels[n] for n in names], [preds[n].tokens for n in names])
    assert s["edit_accuracy"] >= 0.8, s
    assert s["exact_match"] >= 0.4, s


def test_handwritten_model_reads_its_examples():
    """The model in models/handwritten loads by name and reads the handwritten examples (drawn
    from polyline strokes, as the page's pad records them) as CROHME is scored: after the
    canonical form."""
    from pathlib import Path

    from img2tex.data.crohme import canonical
    from img2tex.data.layout import open_split

    if "handwritten" not in shipped_model_names():
        pytest.skip("no handwritten model shipped")
    examples = Path(__file__).resolve().parents[1] / "examples" / "handwritten"
    source = open_split(examples, "test")
    labels = {source.name(i): source.formula(i) for i in range(len(source))}
    preds = {p.path.stem: p for p in Img2Tex("handwritten").predict_paths([examples])}
    assert sorted(preds) == sorted(labels) and len(labels) >= 3
    right = [n for n in labels if preds[n].ok and canonical(preds[n].tokens) == canonical(labels[n])]
    assert len(right) >= len(labels) - 1, {n: preds[n].tokens for n in labels}


def test_import_is_light():
    code = "import sys, img2tex.predict; from img2tex import Img2Tex; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_folders_with_loops_dangling_links_fifos_and_unreadable_files(model_dir, images, monkeypatch):
    """A symlink loop is not followed forever, a dangling link or a FIFO is not an image file,
    and a file that cannot be read is one error line while the rest are read."""
    import os
    from pathlib import Path

    (images / "sub" / "loop").symlink_to(images, target_is_directory=True)
    (images / "dangling.png").symlink_to(images / "nowhere.png")
    os.mkfifo(images / "pipe.png")
    real_read = Path.read_bytes

    def read_bytes(self):
        if self.name == "c.PNG":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    reader = Img2Tex(model_dir, device="cpu", max_len=4)
    preds = {p.path.name: p for p in reader.predict_paths([images])}
    assert sorted(preds) == ["a.png", "b.jpg", "broken.png", "c.PNG"]
    assert "cannot read (Permission denied)" in preds["c.PNG"].error
    assert preds["a.png"].ok and preds["b.jpg"].ok


def test_n_best_lists_the_beams_answers_best_first() -> None:
    from pathlib import Path

    from img2tex.predict import Img2Tex

    example = Path(__file__).resolve().parents[1] / "examples" / "quadratic.png"
    reader = Img2Tex(beam=2)
    one = reader.predict(example)
    res = reader.predict(example, n_best=4)
    assert one.candidates is None and res.tokens == one.tokens
    cands = res.candidates
    assert cands is not None and 2 <= len(cands) <= 4
    assert cands[0].tokens == res.tokens and cands[0].latex == res.latex
    assert [c.score for c in cands] == sorted((c.score for c in cands), reverse=True)
    assert len({c.tokens for c in cands}) == len(cands)


def test_models_are_named_or_given_as_folders(model_dir, tmp_path, monkeypatch):
    from img2tex.predict import resolve_model, shipped_model_names

    assert resolve_model(None) == default_model_dir() == resolve_model("default")
    assert shipped_model_names()[0] == "default"
    assert resolve_model(model_dir) == model_dir  # a path means what it says
    with pytest.raises(ModelError, match=r"model folder not found: nothing-here \(shipped models: default"):
        resolve_model("nothing-here")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").mkdir()  # a folder of a shipped model's name in the working directory wins
    assert resolve_model("default").resolve() == (tmp_path / "default").resolve()
