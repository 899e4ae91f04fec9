import json

import pytest

from img2tex.network.config import ModelConfig
from img2tex.predict import Img2Tex
from img2tex.scoring.evaluate import evaluate
from img2tex.training.config import TrainConfig
from img2tex.training.trainer import lr_at, resume, train

FORMULAS = [
    "x ^ { 2 }",
    "a + b",
    "\\frac { 1 } { 2 }",
    "\\alpha \\beta",
    "y = m x + c",
    "\\sqrt { x }",
    "e ^ { i \\pi }",
    "\\sum _ { i } a _ { i }",
    "f ( x )",
    "a _ { n + 1 }",
    "\\int _ { 0 } ^ { 1 } d x",
    "x \\leq y",
    "\\gamma",
    "1 2 3",
    "( a + b ) ^ { 2 }",
    "\\log n",
]


def tiny_cfg(dropout: float = 0.0, decoder: str = "feeding") -> ModelConfig:
    return ModelConfig(
        enc_blocks=[(16, 1, 2, 2), (32, 1, 2, 2), (64, 1, 2, 2)],
        emb_dim=32,
        hidden_dim=128,
        attn_dim=64,
        dropout=dropout,
        decoder=decoder,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, needs_latex):
    from img2tex.data.layout import open_split
    from img2tex.rendering.renderer import RenderConfig, render_formulas

    out = tmp_path_factory.mktemp("rendered")
    report = render_formulas(FORMULAS, out, RenderConfig(jobs=1))
    assert report.ok == len(FORMULAS), report.failed
    return out, open_split(out, "train")


def test_tiny_model_learns_and_decodes_exactly(rendered, tmp_path):
    root, source = rendered
    cfg = TrainConfig(
        batch_size=4,
        epochs=70,
        lr=5e-3,
        warmup_steps=5,
        log_every=10,
        val_size=16,
        checkpoint_every=10_000,
        device="cpu",
    )
    summary = train(source, source, tmp_path / "run", cfg, tiny_cfg(), progress=False)
    assert summary["status"] == "done" and summary["exported"]
    run = tmp_path / "run"
    for f in (
        "config.json",
        "log.jsonl",
        "loss.png",
        "best/model.safetensors",
        "last/train_state.json",
        "best/encoder.onnx",
        "best/decoder_step.onnx",
        "best/export.json",
    ):
        assert (run / f).exists(), f
    # Both engines read every image exactly: ONNX Runtime from the export, torch from the weights.
    for engine in ("onnx", "torch"):
        for beam in (1, 3):
            out = tmp_path / f"eval-{engine}{beam}"
            report = evaluate(run / "best", source, beam=beam, out_dir=out, progress=False, engine=engine)
            assert report["exact_match"] == 1.0, (engine, beam, (out / "predictions.tsv").read_text())
            assert report["bleu"] == pytest.approx(100.0)
    # The same model through predict() on the image files (scale 1.0: renders are at the training look).
    truth = {source.name(i): source.formula(i) for i in range(len(source))}
    preds = list(Img2Tex(run / "best", beam=3, scale=1.0, device="cpu").predict_paths([root / "images_processed"]))
    assert len(preds) == len(FORMULAS)
    assert all(p.tokens == truth[p.path.stem] for p in preds), [(p.path.stem, p.tokens) for p in preds]


def _losses(run):
    return {
        e["step"]: e["last_loss"]
        for e in map(json.loads, (run / "log.jsonl").read_text().splitlines())
        if e["kind"] == "train"
    }


def test_resume_gives_same_next_losses(tmp_path, fake_split):
    src = fake_split(30)
    cfg = dict(
        export=False,
        batch_size=4,
        epochs=2,
        lr=3e-3,
        warmup_steps=2,
        log_every=1,
        val_size=4,
        checkpoint_every=1000,
        device="cpu",
        decode_max_len=5,
    )
    train(src, src, tmp_path / "a", TrainConfig(**cfg), tiny_cfg(dropout=0.3), progress=False)
    s = train(src, src, tmp_path / "b", TrainConfig(**cfg, max_steps=5), tiny_cfg(dropout=0.3), progress=False)
    assert s["status"] == "stopped" and s["step"] == 5
    s = resume(src, src, tmp_path / "b", progress=False)
    assert s["status"] == "done" and s["step"] == 16
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert sorted(a) == sorted(b) == list(range(1, 17))
    for step in range(6, 17):  # across the epoch boundary too
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step


def test_a_compact_checkpoint_resumes_close_to_the_full_one(tmp_path, fake_split):
    """`compact_training_state` (Adam's moments in bfloat16) is for keeping a run in the
    repository: the run it resumes follows the uninterrupted one closely."""
    import shutil

    from img2tex.network.checkpoint import compact_training_state

    src = fake_split(30)
    cfg = dict(export=False, batch_size=4, epochs=2, lr=3e-3, warmup_steps=2, log_every=1, val_size=4)
    cfg |= dict(checkpoint_every=1000, device="cpu", decode_max_len=5)
    train(src, src, tmp_path / "a", TrainConfig(**cfg), tiny_cfg(), progress=False)
    train(src, src, tmp_path / "b", TrainConfig(**cfg, max_steps=5), tiny_cfg(), progress=False)
    (tmp_path / "c").mkdir()
    shutil.copy(tmp_path / "b" / "log.jsonl", tmp_path / "c")
    compact_training_state(tmp_path / "b" / "last", tmp_path / "c" / "last")
    assert resume(src, src, tmp_path / "c", progress=False)["step"] == 16
    a, c = _losses(tmp_path / "a"), _losses(tmp_path / "c")
    for step in range(6, 17):
        assert c[step] == pytest.approx(a[step], rel=2e-2), step


@pytest.fixture
def interrupting(fake_split):
    """The class `interrupting(n, after)`: `fake_split(n)` that raises KeyboardInterrupt (a Ctrl-C)
    when asked for its image number after + 1."""

    class Interrupting(fake_split):
        def __init__(self, n, after):
            super().__init__(n)
            self.calls, self.after = 0, after

        def image(self, i):
            self.calls += 1
            if self.calls > self.after:
                raise KeyboardInterrupt
            return super().image(i)

    return Interrupting


def test_ctrl_c_saves_checkpoint_and_resumes(tmp_path, interrupting, fake_split):
    src = interrupting(20, after=4 * 3 + 2)
    cfg = TrainConfig(
        export=False, batch_size=4, epochs=1, log_every=1, val_size=0, checkpoint_every=1000, device="cpu"
    )
    s = train(src, None, tmp_path / "r", cfg, tiny_cfg(), progress=False)
    assert s["status"] == "interrupted" and s["step"] == 3
    state = json.loads((tmp_path / "r" / "last" / "train_state.json").read_text())["state"]
    assert (state["step"], state["position"], state["epoch"]) == (3, 3, 0)
    s = resume(fake_split(20), None, tmp_path / "r", progress=False)
    assert s["status"] == "done" and s["step"] == 5


def test_resume_without_state_is_an_error(tmp_path, fake_split):
    from img2tex.errors import ModelError

    with pytest.raises(ModelError, match="nothing to resume"):
        resume(fake_split(4), None, tmp_path, progress=False)


def test_bf16_autocast_on_cpu_trains(tmp_path, fake_split, monkeypatch):
    """--bf16 on, on a CPU with native bf16 (stood in for here, whatever this machine has): the
    forward pass runs in bfloat16 and the model still learns."""
    import torch

    from img2tex import device as device_module
    from img2tex.training.trainer import autocast

    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: True)
    with autocast(torch.device("cpu"), "on"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "off"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    src = fake_split(8)
    cfg = TrainConfig(
        export=False,
        batch_size=4,
        epochs=15,
        lr=5e-3,
        warmup_steps=2,
        log_every=1,
        val_size=0,
        checkpoint_every=1000,
        device="cpu",
        bf16="on",
    )
    train(src, None, tmp_path / "r", cfg, tiny_cfg(), progress=False)
    losses = list(_losses(tmp_path / "r").values())
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4


def test_lr_schedule():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-5, warmup_steps=10)
    assert lr_at(0, 100, cfg) == pytest.approx(1e-4)
    assert lr_at(9, 100, cfg) == pytest.approx(1e-3)
    assert lr_at(100, 100, cfg) == pytest.approx(1e-5)


def test_resuming_mid_epoch_on_other_data_is_refused_but_at_an_epoch_end_it_goes_on(tmp_path, fake_split):
    """A mid-epoch position counts batches of that data's order: on other data it would repeat
    some images and skip others, so it is refused; at an epoch's end the data may change (a
    later part of a long run may add renders)."""
    from img2tex.errors import ModelError

    src = fake_split(24)
    cfg = dict(export=False, batch_size=4, epochs=2, log_every=1, val_size=0, checkpoint_every=100, device="cpu")
    train(src, None, tmp_path / "a", TrainConfig(**cfg, max_steps=3), tiny_cfg(), progress=False)
    with pytest.raises(ModelError, match="saved mid-epoch"):
        resume(fake_split(40), None, tmp_path / "a", progress=False)
    assert resume(src, None, tmp_path / "a", progress=False)["status"] == "done"
    train(src, None, tmp_path / "b", TrainConfig(**{**cfg, "epochs": 1}), tiny_cfg(), progress=False)
    s = resume(fake_split(40), None, tmp_path / "b", {"epochs": 2}, progress=False)
    assert s["status"] == "done" and s["epoch"] == 2


def test_resume_with_scale_jitter_is_reproducible_and_can_change_it(tmp_path, fake_split):
    src = fake_split(24)
    cfg = dict(
        export=False,
        batch_size=4,
        epochs=2,
        lr=3e-3,
        warmup_steps=2,
        log_every=1,
        val_size=0,
        checkpoint_every=1000,
        device="cpu",
        scale_jitter=0.5,
    )
    train(src, None, tmp_path / "a", TrainConfig(**cfg), tiny_cfg(), progress=False)
    train(src, None, tmp_path / "b", TrainConfig(**cfg, max_steps=7), tiny_cfg(), progress=False)
    resume(src, None, tmp_path / "b", progress=False)
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    for step in range(8, 13):  # the saved jitter was kept, with the same draws
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step
    resume(src, None, tmp_path / "b", {"epochs": 3, "scale_jitter": 0.0}, progress=False)
    saved = json.loads((tmp_path / "b" / "config.json").read_text())["train"]
    assert saved["scale_jitter"] == 0.0 and saved["epochs"] == 3


def test_pen_augmented_training_resumes_exactly(tmp_path, fake_split):
    """The pen warps are drawn per (seed, epoch, item): an interrupted run resumes with the same
    images, so its losses are those of a run that was never stopped."""
    src = fake_split(16)
    cfg = dict(export=False, batch_size=4, epochs=2, lr=3e-3, warmup_steps=2, log_every=1, val_size=0)
    cfg.update(checkpoint_every=1000, device="cpu", augment="pen")
    train(src, None, tmp_path / "a", TrainConfig(**cfg), tiny_cfg(), progress=False)
    train(src, None, tmp_path / "b", TrainConfig(**cfg, max_steps=5), tiny_cfg(), progress=False)
    resume(src, None, tmp_path / "b", progress=False)
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert len(a) == 8
    for step in range(6, 9):
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step


def test_resume_refuses_to_change_a_fixed_setting(tmp_path, fake_split):
    from img2tex.errors import ModelError

    src = fake_split(8)
    cfg = TrainConfig(export=False, batch_size=4, epochs=1, max_steps=1, val_size=0, device="cpu")
    train(src, None, tmp_path / "r", cfg, tiny_cfg(), progress=False)
    with pytest.raises(ModelError, match="keeps its lr"):
        resume(src, None, tmp_path / "r", {"lr": 0.5}, progress=False)
    with pytest.raises(ModelError, match="no training setting"):
        resume(src, None, tmp_path / "r", {"nonsense": 1}, progress=False)
    s = resume(src, None, tmp_path / "r", {"lr": cfg.lr, "max_steps": 2}, progress=False)  # same value: fine
    assert s["step"] == 2


def test_parallel_decoder_learns_and_resumes_exactly(tmp_path, fake_split):
    """The parallel decoder: the loss falls, and a resumed run continues exactly."""
    src = fake_split(8)
    common = dict(export=False, batch_size=4, lr=5e-3, warmup_steps=2, log_every=1, val_size=0, device="cpu")
    cfg = TrainConfig(epochs=15, **common)
    train(src, None, tmp_path / "a", cfg, tiny_cfg(dropout=0.1, decoder="parallel"), progress=False)
    losses = list(_losses(tmp_path / "a").values())
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:4]) / 4
    train(
        src,
        None,
        tmp_path / "b",
        TrainConfig(epochs=15, max_steps=9, **common),
        tiny_cfg(dropout=0.1, decoder="parallel"),
        progress=False,
    )
    resume(src, None, tmp_path / "b", progress=False)
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    for step in range(10, 31):
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step


def test_time_budget_and_max_minutes(tmp_path, fake_split):
    """--time-budget ends the run when the training time is spent (schedule over time, a last
    validation); --max-minutes stops one invocation, and a resume goes on to the budget."""
    src = fake_split(12)
    common = dict(export=False, batch_size=4, epochs=1000, warmup_steps=1, log_every=1, val_size=4, device="cpu")
    s = train(src, src, tmp_path / "a", TrainConfig(time_budget=0.03, **common), tiny_cfg(), progress=False)
    assert s["status"] == "done" and 1.8 <= s["train_seconds"] < 6
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["kind"] == "budget" and "val_bleu" in log[-1]
    lrs = [e["lr"] for e in log if e["kind"] == "train"]
    assert lrs[-1] < 0.2 * max(lrs)  # the cosine ran down over the budget

    s = train(
        src, None, tmp_path / "b", TrainConfig(time_budget=0.05, max_minutes=0.01, **common), tiny_cfg(), progress=False
    )
    assert s["status"] == "stopped" and s["train_seconds"] < 3
    s = resume(src, None, tmp_path / "b", progress=False)
    assert s["status"] == "done" and s["train_seconds"] >= 3


def test_step_budget_ends_the_run_and_resumes_exactly(tmp_path, fake_split):
    """--step-budget ends the run after exactly that many steps, the cosine run down to its floor
    over them (not over the epochs), with a last validation; stopped halfway by --max-steps and
    resumed, the run takes the same steps with the same losses."""
    src = fake_split(12)
    common = dict(export=False, batch_size=4, epochs=1000, warmup_steps=1, log_every=1, val_size=4, device="cpu")
    common.update(step_budget=14, min_lr=1e-5, checkpoint_every=1000)
    s = train(src, src, tmp_path / "a", TrainConfig(**common), tiny_cfg(), progress=False)
    assert s["status"] == "done" and s["step"] == 14
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["kind"] == "budget" and "val_bleu" in log[-1]
    lrs = [e["lr"] for e in log if e["kind"] == "train"]
    assert len(lrs) == 14 and lrs[-1] < 0.05 * max(lrs)

    s = train(src, src, tmp_path / "b", TrainConfig(max_steps=6, **common), tiny_cfg(), progress=False)
    assert s["status"] == "stopped" and s["step"] == 6
    s = resume(src, src, tmp_path / "b", progress=False)
    assert s["status"] == "done" and s["step"] == 14
    a, b = _losses(tmp_path / "a"), _losses(tmp_path / "b")
    assert sorted(b) == list(range(1, 15))
    for step in range(7, 15):
        assert b[step] == pytest.approx(a[step], rel=1e-6, abs=1e-7), step


def test_a_budget_without_epochs_runs_to_its_end_and_a_resume_may_change_it(tmp_path, fake_split):
    """With a budget and no epoch count the run goes on past any number of epochs until the
    budget is spent; a resume may shorten (or lengthen) the budget, not add one to a run."""
    from img2tex.errors import ModelError

    src = fake_split(8)  # 2 steps an epoch
    common = dict(export=False, batch_size=4, epochs=None, warmup_steps=1, log_every=1, val_size=4, device="cpu")
    s = train(src, None, tmp_path / "a", TrainConfig(step_budget=20, max_steps=6, **common), tiny_cfg(), progress=False)
    assert s["status"] == "stopped" and s["step"] == 6
    s = resume(src, None, tmp_path / "a", changes={"step_budget": 11}, progress=False)
    assert s["status"] == "done" and s["step"] == 11 and s["epoch"] >= 5
    cfg = dict(common, epochs=2)
    train(src, None, tmp_path / "b", TrainConfig(max_steps=1, **cfg), tiny_cfg(), progress=False)
    with pytest.raises(ModelError, match="no step_budget"):
        resume(src, None, tmp_path / "b", changes={"step_budget": 5}, progress=False)


def test_init_from_starts_where_the_model_left_off(tmp_path, fake_split):
    """A run started from a model folder continues from its weights (its first loss is the
    model's, far below a fresh network's) with the model's network and vocabulary."""
    from img2tex.errors import ModelError
    from img2tex.training.trainer import setup

    src = fake_split(30)
    cfg = dict(export=False, batch_size=4, lr=3e-3, warmup_steps=2, log_every=1, val_size=4, device="cpu")
    cfg.update(decode_max_len=5, checkpoint_every=1000)
    train(src, src, tmp_path / "a", TrainConfig(**cfg, epochs=6), tiny_cfg(), progress=False)
    fresh = _losses(tmp_path / "a")
    s = train(
        src,
        src,
        tmp_path / "b",
        TrainConfig(**{**cfg, "epochs": 1, "lr": 1e-4}),
        progress=False,
        init_from=tmp_path / "a" / "last",
    )
    assert s["status"] == "done"
    tuned = _losses(tmp_path / "b")
    assert tuned[1] < 0.5 * fresh[1]  # starts trained
    assert json.loads((tmp_path / "b" / "last" / "vocab.json").read_text()) == json.loads(
        (tmp_path / "a" / "last" / "vocab.json").read_text()
    )
    with pytest.raises(ModelError, match="takes its network"):
        setup(src, src, tmp_path / "c", TrainConfig(**cfg), tiny_cfg(), init_from=tmp_path / "a" / "last")
    # another glyph size for the fine-tune (handwriting wants more pixels): saved with the model
    from img2tex.images import ImageConfig

    bigger = ImageConfig(text_height=14.0)
    run = setup(src, None, tmp_path / "d", TrainConfig(**cfg), image_cfg=bigger, init_from=tmp_path / "a" / "last")
    assert run.image_cfg.text_height == 14.0
    assert json.loads((tmp_path / "d" / "config.json").read_text())["image"]["text_height"] == 14.0


# -- crashes: SIGKILL at any point, damaged checkpoints ------------------------------------------

_KILLABLE = r"""
import os, signal, sys
import numpy as np
import torch
torch.set_num_threads(1)
from img2tex import fileio
from img2tex.training import trainer as T
from img2tex.network.config import ModelConfig
from img2tex.training.config import TrainConfig

class Split:  # what tests/conftest.py's FakeSplit is, for a process of its own
    def __init__(self, n):
        self.formulas = [" ".join(["x"] * (1 + i % 7)) + (" + y" if i % 2 else "") for i in range(n)]
        self.sizes = [(20 + 16 * (i % 3), 40 + 30 * (i % 4)) for i in range(n)]
    def __len__(self): return len(self.formulas)
    def formula(self, i): return self.formulas[i]
    def name(self, i): return f"img{i}"
    def shape(self, i): return self.sizes[i]
    def image(self, i):
        h, w = self.sizes[i]
        a = np.full((h, w), 255, np.uint8); a[h // 2, 4 : w - 4] = 0; a[4 : h - 4, 4 + i % (w - 8)] = 0
        return a

mode, out, kill_at = sys.argv[1], sys.argv[2], sys.argv[3]
def killer(fn, n):  # SIGKILL ourselves on the n-th call of fn, before it returns
    calls = [0]
    def wrapped(*a, **k):
        if fn is fileio.swap_folder and a[1].name != "last":
            return fn(*a, **k)  # count the checkpoint's swaps only, not best/'s
        calls[0] += 1
        if calls[0] == n:
            if fn is fileio.swap_folder:  # half-way through a swap: old renamed away, new not yet in
                import shutil
                old = a[1].with_name(k.get("keep") or "last.old")
                if old.exists():
                    shutil.rmtree(old)
                os.replace(a[1], old)
            os.kill(os.getpid(), signal.SIGKILL)
        return fn(*a, **k)
    return wrapped
if kill_at != "none":
    what, n = kill_at.split(":")
    if what == "state":
        T.save_training_state = killer(T.save_training_state, int(n))
    elif what == "seal":
        T.seal_folder = killer(T.seal_folder, int(n))
    elif what == "swap":
        T.swap_folder = killer(fileio.swap_folder, int(n))
    elif what == "term":  # SIGTERM ourselves at the n-th step, mid-epoch and between checkpoints
        stop_reason, calls = T._stop_reason, [0]
        def term_at(*a, **k):
            calls[0] += 1
            if calls[0] == int(n):
                os.kill(os.getpid(), signal.SIGTERM)
            return stop_reason(*a, **k)
        T._stop_reason = term_at
cfg = TrainConfig(export=False, batch_size=4, epochs=3, lr=3e-3, warmup_steps=2, log_every=1, val_size=0,
                  checkpoint_every=2, device="cpu")
model = ModelConfig(enc_blocks=[(8, 1, 2, 2), (16, 1, 2, 2)], emb_dim=8, hidden_dim=16, attn_dim=8, dropout=0.3)
if mode == "train":
    T.train(Split(24), None, out, cfg, model, progress=False)
else:
    T.resume(Split(24), None, out, progress=False)
"""


def _run_killable(tmp_path, mode, out, kill_at="none", timeout=None):
    import subprocess
    import sys

    script = tmp_path / "killable.py"
    script.write_text(_KILLABLE)
    return subprocess.Popen([sys.executable, str(script), mode, str(out), kill_at])


def _weights(run):
    from safetensors.torch import load

    return load((run / "last" / "model.safetensors").read_bytes())


def _same(a, b):
    import torch

    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_at_any_point_then_resume_ends_with_the_same_weights(tmp_path):
    """Killed in the middle of writing a checkpoint's state, before sealing it, half-way through
    swapping it in, and at random moments: each --resume goes on from the newest whole
    checkpoint, and the run ends with exactly the weights of a run never interrupted."""
    import random
    import signal
    import time

    assert _run_killable(tmp_path, "train", tmp_path / "clean").wait(120) == 0
    expected = _weights(tmp_path / "clean")
    run = tmp_path / "killed"
    kills = ["state:2", "seal:2", "swap:2", "state:1"]
    p = _run_killable(tmp_path, "train", run, kills[0])
    assert p.wait(120) == -signal.SIGKILL
    for kill_at in kills[1:]:
        assert _run_killable(tmp_path, "resume", run, kill_at).wait(120) == -signal.SIGKILL
    rng = random.Random(0)
    for _ in range(3):  # and at random moments (whatever the process is doing then)
        p = _run_killable(tmp_path, "resume", run)
        time.sleep(rng.uniform(2.0, 5.0))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait(120)
    assert _run_killable(tmp_path, "resume", run).wait(120) == 0
    assert _same(_weights(run), expected)


def test_sigterm_stops_with_a_checkpoint_and_the_resumed_run_logs_each_step_once(tmp_path):
    """kill (SIGTERM), a job scheduler or docker stop: training stops as on Ctrl-C, with a
    checkpoint at the step it reached rather than at the last periodic one; a resume ends with
    the weights of a run never interrupted, and its log holds every step once."""
    import json

    assert _run_killable(tmp_path, "train", tmp_path / "clean").wait(120) == 0
    run = tmp_path / "termed"
    assert _run_killable(tmp_path, "train", run, "term:4").wait(120) == 0
    state = json.loads((run / "last" / "train_state.json").read_text())["state"]
    assert state["step"] == 3  # checkpoint_every is 2: a periodic one would be at step 2
    with (run / "log.jsonl").open("a") as fh:  # as if the run had gone on past its checkpoint
        fh.write(json.dumps({"kind": "train", "step": 4, "loss": 9.0}) + "\n")
    assert _run_killable(tmp_path, "resume", run).wait(120) == 0
    assert _same(_weights(run), _weights(tmp_path / "clean"))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [e["step"] for e in log if e["kind"] == "train"]
    assert steps == sorted(set(steps)) and 9.0 not in [e.get("loss") for e in log]


def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(tmp_path, fake_split, capsys):
    from img2tex.errors import ModelError
    from img2tex.fileio import folder_damage

    src = fake_split(24)
    cfg = dict(export=False, batch_size=4, epochs=2, log_every=1, val_size=0, checkpoint_every=2, device="cpu")
    train(src, None, tmp_path / "a", TrainConfig(**cfg), tiny_cfg(), progress=False)
    train(src, None, tmp_path / "b", TrainConfig(**cfg, max_steps=5), tiny_cfg(), progress=False)
    run = tmp_path / "b"
    weights = run / "last" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: still a loadable file, wrong weights
    weights.write_bytes(bytes(data))
    assert folder_damage(run / "last") == "model.safetensors does not match its SHA-256"
    s = resume(src, None, run, progress=False)
    assert "last/: model.safetensors does not match its SHA-256; resuming from" in capsys.readouterr().err
    assert s["status"] == "done" and _same(_weights(run), _weights(tmp_path / "a"))
    # With both damaged: one clear error naming each.
    for name in ("last", "prev"):
        (run / name / "train_state.json").write_text("{")
    with pytest.raises(ModelError, match="no usable checkpoint .*last/: train_state.json"):
        resume(src, None, run, progress=False)


def test_training_on_the_distributed_layout_sees_the_models_glyph_size(distributed_root, tmp_path):
    """im2latex-100k's full pages (glyphs twice the model's size) reach the network as `predict`
    brings a user's image, by default; read as stored (the old default) they were twice too big."""
    import numpy as np

    from img2tex.data.layout import open_split
    from img2tex.images import estimate_text_height, load_image, preprocess
    from img2tex.training.trainer import setup

    split = open_split(distributed_root, "train")
    run = setup(split, None, tmp_path / "r", TrainConfig(epochs=1, batch_size=2, export=False), tiny_cfg())
    cfg = run.train_ds.image_cfg
    for k in range(len(run.train_ds)):
        _, a, _ = run.train_ds[k]
        page = load_image(distributed_root / "formula_images" / f"{run.train_ds.name(k)}.png")
        np.testing.assert_array_equal(a, preprocess(page, cfg))
        assert abs(estimate_text_height(a) / cfg.text_height - 1) < 0.3
    as_stored = setup(split, None, tmp_path / "s", TrainConfig(epochs=1, scale=1.0, export=False), tiny_cfg())
    _, a, _ = as_stored.train_ds[0]
    assert estimate_text_height(a) / cfg.text_height > 1.6
