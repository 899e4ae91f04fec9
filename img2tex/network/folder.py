"""A model folder's config and vocabulary, read without torch.

A model folder holds `model.safetensors` (weights), `config.json` (format version, ModelConfig,
the ImageConfig the model was trained with) and `vocab.json`. Both inference paths (torch in
checkpoint.py, numpy in numpy_model.py) read the config and vocabulary through here, with the
same checks and the same one-line errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from img2tex.errors import DatasetError, ModelError
from img2tex.images import ImageConfig
from img2tex.network.config import ModelConfig
from img2tex.vocab import Vocab

FORMAT = "img2tex-model"
VERSION = 1
WEIGHTS, CONFIG, VOCAB = "model.safetensors", "config.json", "vocab.json"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"model folder {path.parent}: {path.name} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: not readable JSON ({exc})") from None


def image_cfg_from_dict(d: dict[str, Any]) -> ImageConfig:
    try:
        return ImageConfig(**d)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"model config: bad image settings: {exc}") from None


def load_config(model_dir: str | Path) -> tuple[ModelConfig, ImageConfig, dict[str, Any]]:
    """(ModelConfig, ImageConfig, raw config dict) of a model folder."""
    d = Path(model_dir)
    if not d.is_dir():
        raise ModelError(f"model folder not found: {d}")
    raw = read_json(d / CONFIG)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise ModelError(f"{d / CONFIG}: not an img2tex model config")
    if raw.get("version") != VERSION:
        raise ModelError(
            f"{d / CONFIG}: model format version {raw.get('version')} is not supported (expected {VERSION})"
        )
    try:
        mcfg = ModelConfig.from_dict(raw["model"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{d / CONFIG}: bad model settings ({exc})") from None
    return mcfg, image_cfg_from_dict(raw.get("image", {})), raw


def load_vocab(model_dir: str | Path, mcfg: ModelConfig) -> Vocab:
    """The folder's vocabulary, checked against the size the model expects."""
    d = Path(model_dir)
    try:
        vocab = Vocab.load(d / VOCAB)
    except DatasetError as exc:
        raise ModelError(str(exc)) from None
    if len(vocab) != mcfg.vocab_size:
        raise ModelError(
            f"model folder {d}: vocabulary has {len(vocab)} tokens but the model expects {mcfg.vocab_size}"
        )
    return vocab
