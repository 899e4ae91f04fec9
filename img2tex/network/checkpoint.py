"""Model folders and training checkpoints, written without pickle.

A model folder holds `model.safetensors` (weights), `config.json` (format version, ModelConfig,
the ImageConfig the model was trained with) and `vocab.json` (the last two read by modelfile.py).
Loading never unpickles anything (no torch.load), so a model folder from a stranger cannot run
code; and it checks that the three files agree, so a mixed-up folder fails with one clear
ModelError instead of garbage output.

A training checkpoint is a model folder plus `train_state.safetensors` (optimizer moments, RNG
byte states) and `train_state.json` (everything else: step, epoch, sampler position, ...).
"""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from img2tex.errors import ModelError
from img2tex.fileio import MANIFEST, atomic_write_bytes, atomic_write_text, fresh_folder, seal_folder, swap_folder
from img2tex.images import ImageConfig
from img2tex.network.folder import CONFIG, FORMAT, VERSION, VOCAB, WEIGHTS, load_config, load_vocab, read_json
from img2tex.network.model import Img2TexModel
from img2tex.vocab import Vocab

STATE_TENSORS, STATE_JSON = "train_state.safetensors", "train_state.json"


def _tensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    return st_save({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()})


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return st_load(path.read_bytes())
    except FileNotFoundError:
        raise ModelError(f"model folder {path.parent}: {path.name} is missing") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from None


def save_model(
    model_dir: str | Path,
    model: Img2TexModel,
    vocab: Vocab,
    image_cfg: ImageConfig,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write weights, config and vocabulary; each file atomically, weights last-but-one so a
    reader never pairs new weights with an old config of another shape for long."""
    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.cfg.to_dict(),
        "image": dataclasses.asdict(image_cfg),
    }
    if extra:
        config["info"] = extra
    vocab.save(d / VOCAB)
    atomic_write_bytes(d / WEIGHTS, _tensors_bytes(model.state_dict()))
    atomic_write_text(d / CONFIG, json.dumps(config, indent=2) + "\n")


def load_model(model_dir: str | Path, device: str | torch.device = "cpu") -> tuple[Img2TexModel, Vocab, ImageConfig]:
    """Model (eval mode, on `device`), vocabulary and ImageConfig of a model folder; ModelError
    when a file is missing or the weights, config and vocabulary do not agree."""
    d = Path(model_dir)
    mcfg, image_cfg, _ = load_config(d)
    vocab = load_vocab(d, mcfg)
    model = Img2TexModel(mcfg)
    tensors = _read_tensors(d / WEIGHTS)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing:
        raise ModelError(
            f"model folder {d}: weights lack {len(missing)} tensors (e.g. {missing[0]}); config and weights disagree"
        )
    if extra:
        raise ModelError(
            f"model folder {d}: weights have {len(extra)} unexpected tensors (e.g. {extra[0]}); "
            "config and weights disagree"
        )
    for k, v in expected.items():
        if tuple(tensors[k].shape) != tuple(v.shape):
            raise ModelError(
                f"model folder {d}: tensor {k} has shape {tuple(tensors[k].shape)}, config expects {tuple(v.shape)}"
            )
    model.load_state_dict(tensors)
    model.to(device)
    model.eval()
    return model, vocab, image_cfg


# -- training state ---------------------------------------------------------------------------


def _rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64))
    py_version, py_state, py_gauss = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [py_version, list(py_state), py_gauss]}
    return tensors, meta


def _set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    py_version, py_state, py_gauss = meta["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))


def save_training_state(
    ckpt_dir: str | Path,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    extra: dict[str, torch.Tensor] | None = None,
) -> None:
    """Optimizer moments and RNG states as tensors, `state` (JSON-able: step, epoch, sampler
    position, configs, best score ...) and optimizer hyper-parameters as JSON. `extra` tensors
    (e.g. a weight average, keys not starting with "opt/" or "rng") are saved beside them and
    read back by `load_state_tensors`."""
    d = Path(ckpt_dir)
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {k: v.detach().contiguous() for k, v in (extra or {}).items()}
    opt_scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in opt["state"].items():
        for name, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"opt/{pid}/{name}"] = value
            else:
                opt_scalars.setdefault(str(pid), {})[name] = value
    rng_tensors, rng_meta = _rng_state()
    tensors.update(rng_tensors)
    meta = {
        "format": "img2tex-train-state",
        "version": VERSION,
        "state": state,
        "optimizer": {"param_groups": opt["param_groups"], "scalars": opt_scalars},
        "rng": rng_meta,
    }
    atomic_write_bytes(d / STATE_TENSORS, _tensors_bytes(tensors))
    atomic_write_text(d / STATE_JSON, json.dumps(meta) + "\n")


def load_state_tensors(ckpt_dir: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a saved training state (the `extra` ones of `save_training_state` among them)."""
    return _read_tensors(Path(ckpt_dir) / STATE_TENSORS)


def compact_training_state(src: str | Path, dst: str | Path, dtype: torch.dtype = torch.bfloat16) -> Path:
    """Copy the checkpoint folder `src` to `dst` with the optimizer's moments stored in `dtype`.

    Why: a run continued on another machine needs its optimizer state, and Adam's two moments
    are twice the weights (28 MB for the `base` network in float32); in bfloat16 the checkpoint is
    a third smaller, small enough to keep beside the model in the repository. Resuming is exact
    but for the moments' rounding (8 significant bits, below 0.4%): the optimizer casts them back
    to the weights' float32 when it loads them. Weights, RNG states and everything else are copied
    as they are, and `dst` is sealed (manifest) like a checkpoint the trainer writes."""
    s, d = Path(src), Path(dst)
    load_config(s)  # a model folder, or one clear error
    tensors = _read_tensors(s / STATE_TENSORS)
    staged = fresh_folder(d.with_name(d.name + ".new"))
    for f in sorted(s.iterdir()):
        if f.is_file() and f.name not in (STATE_TENSORS, MANIFEST):
            atomic_write_bytes(staged / f.name, f.read_bytes())
    small = {
        k: v.to(dtype) if k.startswith("opt/") and v.is_floating_point() and v.dim() > 0 else v
        for k, v in tensors.items()
    }
    atomic_write_bytes(staged / STATE_TENSORS, _tensors_bytes(small))
    seal_folder(staged)
    swap_folder(staged, d)
    return d


def load_training_state(
    ckpt_dir: str | Path, optimizer: torch.optim.Optimizer, restore_rng: bool = True
) -> dict[str, Any]:
    """Restore optimizer (and RNG states) saved by `save_training_state`; returns its `state`."""
    d = Path(ckpt_dir)
    meta = read_json(d / STATE_JSON)
    if not isinstance(meta, dict) or meta.get("format") != "img2tex-train-state":
        raise ModelError(f"{d / STATE_JSON}: not an img2tex training state")
    tensors = _read_tensors(d / STATE_TENSORS)
    opt_state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt/"):
            _, pid, name = key.split("/", 2)
            opt_state.setdefault(int(pid), {})[name] = value
    for pid, scalars in meta["optimizer"]["scalars"].items():
        opt_state.setdefault(int(pid), {}).update(scalars)
    # JSON turned tuples (Adam's betas) into lists; give them back their type.
    # How the update is computed (fused, foreach) is the running optimizer's choice, not the saved
    # one's: a checkpoint from before the foreach Adam resumes foreach.
    impl = {k: optimizer.param_groups[0][k] for k in ("fused", "foreach") if k in optimizer.param_groups[0]}
    saved = meta["optimizer"]["param_groups"]
    groups = [{**{k: tuple(v) if k == "betas" else v for k, v in g.items()}, **impl} for g in saved]
    try:
        optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise ModelError(f"{d}: optimizer state does not fit this model ({exc})") from None
    if restore_rng:
        _set_rng_state(tensors, meta["rng"])
    return meta["state"]
