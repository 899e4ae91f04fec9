"""The command line end to end: stdout/stderr split, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import sys

import pytest

from img2tex import __version__
from img2tex.cli import main
from img2tex.tokenizer import to_latex, tokenize

FORMULAS = ["x ^ { 2 } + y ^ { 2 }", "\\frac { a } { b }", "\\alpha _ { n }", "e ^ { i \\pi } = - 1"]


def run(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, stdin: str | None = None
) -> tuple[int, str, str]:
    """Run `img2tex ARGS` in-process through the console-script entry point."""
    monkeypatch.setattr(sys, "argv", ["img2tex", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys, monkeypatch):
    code, out, _ = run(["--version"], capsys, monkeypatch)
    assert code == 0 and out.strip() == f"img2tex {__version__}"


@pytest.mark.parametrize("command", ["predict", "eval", "train", "render", "vocab", "corpus", "pack", "export"])
def test_every_command_explains_itself(command, capsys, monkeypatch):
    code, out, _ = run([command, "--help"], capsys, monkeypatch)
    assert code == 0
    assert "Example" in out and "Usage" in out


def test_missing_input_is_one_line_error(tmp_path, capsys, monkeypatch):
    code, out, err = run(["render", str(tmp_path / "nope.lst"), str(tmp_path / "out")], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert "no such file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_predict_with_broken_model_folder(tmp_path, capsys, monkeypatch):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{not json")
    img = tmp_path / "a.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n")
    code, out, err = run(["predict", str(img), "--model", str(model)], capsys, monkeypatch)
    assert code == 1 and out == ""
    assert "error:" in err and "Traceback" not in err


def test_predict_empty_folder(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    code, _, err = run(["predict", str(tmp_path / "empty")], capsys, monkeypatch)
    assert code == 1 and "empty" in err


def test_vocab_from_processed_folder(tmp_path, capsys, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "formulas.norm.lst").write_text("\n".join(FORMULAS) + "\n")
    (data / "train_filter.lst").write_text("a.png 0\nb.png 1\nc.png 2\n")
    (data / "validate_filter.lst").write_text("d.png 3\n")
    out_json = tmp_path / "vocab.json"
    code, out, _ = run(["vocab", str(data), "-o", str(out_json)], capsys, monkeypatch)
    assert code == 0
    summary = json.loads(out)
    saved = json.loads(out_json.read_text())
    assert summary["formulas"] == 3
    assert summary["size"] == len(saved["tokens"])
    # "e ^ { i \pi } = - 1" (the validate formula) has tokens the train split never saw.
    assert 0 < summary["unknown_rate"] < 1


@pytest.mark.usefixtures("needs_latex")
def test_render_train_eval_predict(tmp_path, capsys, monkeypatch):
    formulas = tmp_path / "f.lst"
    formulas.write_text("\n".join(FORMULAS + ["\\frac{a}{b", "\\input{/etc/passwd}"]) + "\n")
    data = tmp_path / "data"
    code, out, err = run(["render", str(formulas), str(data), "--packed"], capsys, monkeypatch)
    assert code == 3, err  # two formulas failed, the rest rendered
    report = json.loads(out)
    assert report["ok"] == 4 and report["failed_count"] == 2
    pngs = sorted((data / "images_processed").glob("*.png"))
    assert len(pngs) == 4

    run_dir = tmp_path / "run"
    code, out, err = run(
        [
            "train",
            str(data / "packed"),
            "-o",
            str(run_dir),
            "--val",
            str(data),
            "--val-split",
            "train",
            "--max-steps",
            "3",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--val-size",
            "4",
            "--label-smoothing",
            "0.1",
            "--attn-dim",
            "16",
            "--enc-blocks",
            "8:1:2x2,16:2:2x4",
            "--residual",
            "--dropout",
            "0",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert (run_dir / "last" / "model.safetensors").is_file()
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["train"]["label_smoothing"] == 0.1 and saved["model"]["attn_dim"] == 16
    assert saved["model"]["enc_blocks"] == [[8, 1, 2, 2], [16, 2, 2, 4]] and saved["model"]["dropout"] == 0
    assert saved["model"]["residual"] is True
    code, out, err = run(
        ["train", str(data / "packed"), "-o", str(tmp_path / "r2"), "--dropout", "1"], capsys, monkeypatch
    )
    assert code == 2 and out == "" and "dropout" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(
        ["train", str(data / "packed"), "-o", str(tmp_path / "r1"), "--enc-blocks", "8:1:2"], capsys, monkeypatch
    )
    assert code == 2 and out == "" and "CHANNELS:CONVS" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(
        ["train", str(data / "packed"), "-o", str(tmp_path / "r0"), "--attn-dim", "0"], capsys, monkeypatch
    )
    assert code == 2 and out == "" and "attn_dim" in err and len(err.strip().splitlines()) == 1
    code, out, err = run(
        ["train", str(data / "packed"), "-o", str(run_dir), "--resume", "--attn-dim", "8"], capsys, monkeypatch
    )
    assert code == 2 and "--attn-dim" in err
    code, out, err = run(
        ["train", str(data / "packed"), "-o", str(tmp_path / "run2"), "--label-smoothing", "1"], capsys, monkeypatch
    )
    assert code == 1 and out == "" and "label smoothing" in err and len(err.strip().splitlines()) == 1
    model = run_dir / "last"

    code, out, err = run(
        ["eval", str(data), "--split", "train", "--model", str(model), "-o", str(tmp_path / "ev"), "--image-match"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    rep = json.loads(out)
    assert rep["count"] == 4 and 0.0 <= rep["bleu"] <= 100.0
    assert rep["image_match"]["compared"] == 4 and 0.0 <= rep["image_match"]["accuracy"] <= 1.0
    assert (tmp_path / "ev" / "predictions.tsv").is_file()

    code, out, err = run(["predict", str(pngs[0]), "--model", str(model)], capsys, monkeypatch)
    assert code == 0, err
    assert len(out.splitlines()) == 1  # exactly the LaTeX, nothing else on stdout

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    code, out, err = run(
        ["predict", "-", "--json", "--model", str(model)], capsys, monkeypatch, stdin=f"{pngs[0]}\n{bad}\n{pngs[1]}\n"
    )
    assert code == 3  # one failed, the others decoded
    rows = [json.loads(line) for line in out.splitlines()]
    assert [("error" in r) for r in rows] == [False, True, False]
    assert "bad.png" in err
    assert set(rows[0]) == {"path", "latex", "tokens", "mathml", "score"}
    assert tokenize(rows[0]["latex"]) == tokenize(to_latex(rows[0]["tokens"]))  # one formula, two spellings

    code, out, err = run(["predict", str(pngs[0]), "--model", str(model), "--format", "tokens"], capsys, monkeypatch)
    assert code == 0 and out.strip() == rows[0]["tokens"].strip(), err
    code, out, err = run(["predict", str(pngs[0]), "--model", str(model), "--format", "tex"], capsys, monkeypatch)
    assert code == 1 and "--format must be one of latex, tokens" in err
    code, out, err = run(
        ["predict", str(pngs[0]), "--model", str(model), "--attention", str(tmp_path / "att")], capsys, monkeypatch
    )
    assert code == 0 and (tmp_path / "att" / pngs[0].name).is_file(), err

    tex = tmp_path / "tex"
    code, out, err = run(
        ["predict", str(data / "images_processed"), "--out", str(tex), "--model", str(model)], capsys, monkeypatch
    )
    assert code == 0, err
    assert sorted(p.stem for p in tex.glob("*.tex")) == sorted(p.stem for p in pngs)


@pytest.mark.parametrize(
    "args",
    [
        ["train", "."],
        ["export", "."],
        ["predict", "x.png", "--engine", "torch"],
        ["predict", "x.png", "--device", "cuda"],
    ],
)
def test_torch_commands_without_torch(args, tmp_path, capsys, monkeypatch):
    """Without torch (a plain install), what needs it says so in one line with the install command."""
    import img2tex.decoding.engine as engine

    monkeypatch.setattr(engine, "torch_available", lambda: False)
    monkeypatch.chdir(tmp_path)
    from PIL import Image

    Image.new("L", (40, 20), 255).save(tmp_path / "x.png")
    code, out, err = run(args, capsys, monkeypatch)
    assert code == 1 and out == ""
    assert 'pip install "img2tex[train]"' in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_predict_imports_only_what_it_needs(capsys, monkeypatch):
    """The shipped model predicts on ONNX Runtime: torch is never imported; and the everyday
    `img2tex predict PATH` (paths only) needs neither Typer nor numpy.ma (start-up)."""
    import subprocess

    code = (
        "import sys; from img2tex.cli import main; sys.argv = ['img2tex', 'predict', 'examples/quadratic.png']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "for name in ('torch', 'typer', 'numpy.ma'):\n"
        "    assert name not in sys.modules, name + ' was imported'"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "x = \\frac{-b \\pm \\sqrt{b^{2} - 4ac}}{2a}"  # readable LaTeX


def test_render_look_options_and_their_errors(tmp_path, capsys, monkeypatch, needs_latex):
    from img2tex.rendering.renderer import font_available

    formulas = tmp_path / "f.lst"
    formulas.write_text("\n".join(FORMULAS) + "\n")
    rasterizer = "gs" if font_available("cm", "gs") else "dvipng"
    args = ["render", str(formulas), str(tmp_path / "out"), "--rasterizer", rasterizer, "--stroke", "0.6"]
    args += ["--gamma", "0.4", "--colour", "0.5", "--dpi", "90", "--downsample", "1", "--rescale", "--seed", "3"]
    code, out, err = run(args, capsys, monkeypatch)
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert settings["rasterizer"] == rasterizer and settings["colour"] == 0.5 and settings["rescale"] is True
    assert len(list((tmp_path / "out" / "images_processed").glob("*.png"))) == len(FORMULAS)
    for bad, message in [(["--rasterizer", "paint"], "unknown rasterizer"), (["--colour", "2"], "colour must be")]:
        code, out, err = run(["render", str(formulas), str(tmp_path / "x"), *bad], capsys, monkeypatch)
        assert code == 1 and message in err and "Traceback" not in err and err.count("\n") == 1, err


def test_render_handwritten_draws_what_the_glyphs_allow_and_refuses_tex_options(
    tmp_path, capsys, monkeypatch, glyph_bank
):
    glyph_bank.save(tmp_path / "bank.npz")
    formulas = tmp_path / "f.lst"
    formulas.write_text("x^{2}+1\n\\frac{a}{b}\n\\hat{x}\n")
    code, out, err = run(
        ["render", str(formulas), str(tmp_path / "hw"), "--handwritten", str(tmp_path / "bank.npz")],
        capsys,
        monkeypatch,
    )
    assert code == 3 and json.loads(out)["ok"] == 2, err  # \hat: no handwritten glyph; the rest drawn
    assert len(list((tmp_path / "hw" / "train" / "hw").glob("*.png"))) == 2
    assert (tmp_path / "hw" / "groundtruth_train.tsv").read_text().count("\n") == 2
    args = ["render", str(formulas), str(tmp_path / "x"), "--handwritten", str(tmp_path / "bank.npz"), "--dpi", "90"]
    code, out, err = run(args, capsys, monkeypatch)
    assert code == 2 and "drop --dpi" in err and err.count("\n") == 1
    code, out, err = run(
        ["render", str(formulas), str(tmp_path / "y"), "--handwritten", str(formulas)], capsys, monkeypatch
    )
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err


def test_serve_refuses_bad_ports_in_one_line(capsys, monkeypatch):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        for args, message in (
            (["--port", "70000"], "--port must be between"),
            (["--port", str(taken.getsockname()[1])], "cannot listen on 127.0.0.1"),
            (["--host", "no.such.host.invalid", "--port", "0"], "cannot listen on no.such.host.invalid"),
            (["--max-upload-mb", "0"], "--max-upload-mb must be positive"),
            (["--max-batch", "0"], "--max-batch must be at least 1"),
            (["--timeout", "0"], "--timeout must be positive"),
        ):
            code, out, err = run(["serve", *args], capsys, monkeypatch)
            assert code == 1 and out == "" and message in err and len(err.strip().splitlines()) == 1, err
    finally:
        taken.close()


def test_predict_into_a_folder_that_cannot_be_made(tmp_path, capsys, monkeypatch):
    """--out or --attention under a file: one line, exit 1, before any image is read."""
    from pathlib import Path

    example = str(Path(__file__).resolve().parents[1] / "examples" / "basel.png")
    (tmp_path / "file").write_text("x")
    for option in ("--out", "--attention"):
        code, out, err = run(["predict", example, option, str(tmp_path / "file" / "sub")], capsys, monkeypatch)
        assert code == 1 and out == "" and f"{option} " in err and "cannot create the folder" in err, err
        assert len(err.strip().splitlines()) == 1


def test_help_prints_angle_bracket_tokens(capsys, monkeypatch):
    code, out, _ = run(["vocab", "--help"], capsys, monkeypatch)
    assert code == 0 and "<unk>" in out


def test_pack_then_eval_on_the_distributed_layout(distributed_root, tmp_path, capsys, monkeypatch):
    """`pack` stores im2latex-100k's full pages at the model's glyph size: `eval` on the pack
    answers as `eval` on the pages does (both as `predict` reads them)."""
    code, out, err = run(
        ["pack", str(distributed_root), "--split", "test", "-o", str(tmp_path / "p")], capsys, monkeypatch
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["packed"] == report["rescaled"] == 6 and report["skipped"] == 0
    code, out, _ = run(["eval", str(distributed_root), "--beam", "1"], capsys, monkeypatch)
    pages = json.loads(out)
    code2, out, _ = run(["eval", str(tmp_path / "p"), "--beam", "1"], capsys, monkeypatch)
    packed = json.loads(out)
    assert code == code2 == 0
    assert abs(pages["bleu"] - packed["bleu"]) < 5 and pages["exact_match"] >= 0.5


def test_train_on_full_pages_suggests_pack(distributed_root, tmp_path, capsys, monkeypatch):
    args = ["train", str(distributed_root), "-o", str(tmp_path / "run"), "--preset", "cpu", "--max-steps", "1"]
    code, _, err = run([*args, "--no-export", "--batch-size", "2"], capsys, monkeypatch)
    assert code == 0, err
    assert "img2tex pack" in err


def test_mathml_output_and_json_field(tmp_path, capsys, monkeypatch):
    from pathlib import Path

    example = str(Path(__file__).resolve().parents[1] / "examples" / "quadratic.png")
    code, out, _ = run(["predict", example, "--format", "mathml"], capsys, monkeypatch)
    assert code == 0 and out.startswith("<math") and "<mfrac>" in out
    code, out, _ = run(["predict", example, "--json"], capsys, monkeypatch)
    record = json.loads(out)
    assert record["mathml"].startswith("<math") and record["latex"]
    code, out, err = run(["predict", example, "--format", "mathml", "--out", str(tmp_path / "o")], capsys, monkeypatch)
    assert code == 0 and (tmp_path / "o" / "quadratic.mml").read_text().startswith("<math")


def test_n_best_candidates_in_json(capsys, monkeypatch):
    from pathlib import Path

    example = str(Path(__file__).resolve().parents[1] / "examples" / "quadratic.png")
    code, out, _ = run(["predict", example, "--json", "--n-best", "3"], capsys, monkeypatch)
    record = json.loads(out)
    assert code == 0 and 1 <= len(record["candidates"]) <= 3
    assert record["candidates"][0]["latex"] == record["latex"]
    code, out, err = run(["predict", example, "--n-best", "3"], capsys, monkeypatch)
    assert code == 2 and "--json" in err


def test_train_options_for_a_handwritten_model_are_checked(tmp_path, capsys, monkeypatch):
    """--text-height and model names: bad values get one line and exit 2 or 1."""
    data = tmp_path / "d"
    data.mkdir()
    (data / "labels.tsv").write_text("a.png\tx\n")
    base = ["train", str(data), "-o", str(tmp_path / "run")]
    code, _, err = run([*base, "--resume", "--text-height", "16"], capsys, monkeypatch)
    assert code == 2 and "--text-height: a resumed run keeps its own network" in err
    code, _, err = run([*base, "--text-height", "-3"], capsys, monkeypatch)
    assert code == 2 and "--text-height must be a positive number" in err
    code, _, err = run(["predict", "x.png", "--model", "cursive"], capsys, monkeypatch)
    assert code == 1 and "model folder not found: cursive (shipped models: default" in err


def test_plain_predict_takes_the_commands_defaults():
    """The Typer command and the Typer-free path share one body, with the same defaults."""
    import inspect

    from img2tex.cli.predict import predict
    from img2tex.cli.read import read_images

    command = inspect.signature(predict).parameters
    body = inspect.signature(read_images).parameters
    assert list(command) == list(body)
    assert {k: p.default for k, p in command.items()} == {k: p.default for k, p in body.items()}


def test_plain_predict_and_the_command_answer_alike(tmp_path, capsys, monkeypatch):
    """Paths only (no Typer) and the same call through Typer (an option set to its default):
    the same stdout, the same error line, the same exit code 3 for a batch with a bad image."""
    import shutil
    from pathlib import Path

    from img2tex.cli import plain_predict
    from img2tex.decoding.hypotheses import DecodeConfig

    root = Path(__file__).resolve().parents[1]
    shutil.copy(root / "examples" / "quadratic.png", tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    plain = ["predict", str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert plain_predict(plain) and not plain_predict([*plain, "--beam", "2"])
    fast = run(plain, capsys, monkeypatch)
    typed = run([*plain, "--beam", str(DecodeConfig.beam)], capsys, monkeypatch)
    assert fast == typed
    code, out, err = fast
    assert code == 3 and out.startswith(f"{tmp_path / 'a.png'}\tx = \\frac")
    assert "b.png" in err and len(err.strip().splitlines()) == 1
