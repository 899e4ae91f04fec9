"""From a `Split` to padded batches of tensors (the torch side of the data).

* `SplitDataset`: one item = preprocessed image (uint8, ink on white) + token ids; formulas
  longer than `max_tokens` are left out (im2markup does the same; they cost most and teach least).
  Optional scale jitter shows the model renders at other resolutions, read the way prediction
  reads them.
* `BucketBatchSampler`: batches of similar image size and formula length, so little compute goes
  into padding; shuffled with a (seed, epoch) generator and resumable mid-epoch.
* `collate_images` / `collate`: pad to the batch maximum rounded up to the bucket grid, with masks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from img2tex.data.split import Split
from img2tex.images import ImageConfig, bucket_shape, preprocess, resize_by
from img2tex.vocab import Vocab


@dataclass
class Batch:
    images: Tensor  # (B, 1, H, W) float ink intensity in [0, 1] (0 = background and padding)
    mask: Tensor  # (B, H, W) bool, True on real pixels
    tgt_in: Tensor  # (B, T) BOS + tokens, PAD after
    tgt_out: Tensor  # (B, T) tokens + EOS, PAD after
    indices: list[int]  # dataset indices, for names and references

    def to(self, device: torch.device | str) -> Batch:
        nb = torch.device(device).type == "cuda"
        return Batch(
            self.images.to(device, non_blocking=nb),
            self.mask.to(device, non_blocking=nb),
            self.tgt_in.to(device, non_blocking=nb),
            self.tgt_out.to(device, non_blocking=nb),
            self.indices,
        )


class SplitDataset(Dataset):
    """Items (index, preprocessed image, token ids) of a `Split`.

    `scale`: the rescale factor handed to images.preprocess; 1.0 for training renders that are
    already at the reference glyph size (fast, exact), None to estimate it per image.

    `scale_jitter` (> 0) with probability `jitter_prob` resizes an image by a factor drawn
    log-uniformly from [1/(1+j), 1+j] and then preprocesses it with the glyph-size estimate, as
    `img2tex predict` does with a user's image. Without it the model only ever sees its own
    scale, and images the estimate scales back (blurred) or misjudges read badly (measured on the
    test split rendered at 0.7x: BLEU 44 against 74 at 1x). Draws are seeded by (seed, epoch,
    item), so a resumed run sees the same images; `set_epoch` moves to the next draw.
    """

    def __init__(
        self,
        split: Split,
        vocab: Vocab,
        image_cfg: ImageConfig,
        max_tokens: int = 150,
        scale: float | None = 1.0,
        limit: int | None = None,
        scale_jitter: float = 0.0,
        jitter_prob: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.split, self.vocab, self.image_cfg, self.scale = split, vocab, image_cfg, scale
        self.scale_jitter, self.jitter_prob, self.seed, self.epoch = scale_jitter, jitter_prob, seed, 0
        n = len(split) if limit is None else min(limit, len(split))
        self.ids: list[list[int]] = []
        self.indices: list[int] = []
        for i in range(n):
            toks = split.formula(i).split()
            if 0 < len(toks) <= max_tokens:
                self.indices.append(i)
                self.ids.append(vocab.encode(toks))
        self._shapes: list[tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[int, np.ndarray, list[int]]:
        i = self.indices[k]
        a, scale = self.split.image(i), self.scale
        if self.scale_jitter > 0:
            rng = np.random.default_rng([self.seed, self.epoch, k])
            if rng.random() < self.jitter_prob:
                span = math.log1p(self.scale_jitter)
                a, scale = resize_by(a, math.exp(rng.uniform(-span, span))), None
        return k, preprocess(a, self.image_cfg, scale=scale), self.ids[k]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shapes(self) -> list[tuple[int, int]]:
        """Approximate model-input sizes from the split's stored sizes (no image decoding),
        cached; good enough to group batches, exact for renders already at the reference look."""
        if self._shapes is None:
            cfg = self.image_cfg
            out = []
            for i in self.indices:
                h, w = self.split.shape(i)
                fit = min(1.0, (cfg.max_height + 2 * cfg.pad) / h, (cfg.max_width + 2 * cfg.pad) / w)
                out.append((max(1, round(h * fit)), max(1, round(w * fit))))
            self._shapes = out
        return self._shapes

    def name(self, k: int) -> str:
        return self.split.name(self.indices[k])

    def formula(self, k: int) -> str:
        return self.split.formula(self.indices[k])


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of dataset positions with similar (bucketed) image shape and formula length.

    Each epoch: a (seed, epoch)-seeded permutation, a stable sort by (bucket shape, length band),
    consecutive chunks of `batch_size`, then the batch order shuffled. `position` batches of the
    current epoch are skipped, which is how a resumed run continues mid-epoch.
    """

    def __init__(self, keys: Sequence[tuple[int, ...]], batch_size: int, seed: int = 0, shuffle: bool = True) -> None:
        self.keys, self.batch_size, self.seed, self.shuffle = list(keys), batch_size, seed, shuffle
        self.epoch = 0
        self.position = 0

    @classmethod
    def for_dataset(
        cls, ds: SplitDataset, batch_size: int, seed: int = 0, shuffle: bool = True, length_band: int = 10
    ) -> BucketBatchSampler:
        keys = [
            bucket_shape(h, w, ds.image_cfg) + (len(ids) // length_band,) for (h, w), ids in zip(ds.shapes(), ds.ids)
        ]
        return cls(keys, batch_size, seed, shuffle)

    def batches(self, epoch: int) -> list[list[int]]:
        n = len(self.keys)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(n).tolist()
        else:
            perm = list(range(n))
        order = sorted(perm, key=lambda i: self.keys[i])
        out = [order[s : s + self.batch_size] for s in range(0, n, self.batch_size)]
        if self.shuffle:
            idx = rng.permutation(len(out)).tolist()
            out = [out[i] for i in idx]
        return out

    def __len__(self) -> int:
        return -(-len(self.keys) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        start, self.position = self.position, 0
        yield from self.batches(self.epoch)[start:]

    def set_epoch(self, epoch: int, position: int = 0) -> None:
        self.epoch, self.position = epoch, position

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.epoch, self.position, self.seed = int(d["epoch"]), int(d["position"]), int(d.get("seed", self.seed))


def collate_images(arrays: Sequence[np.ndarray], bucket: int) -> tuple[Tensor, Tensor]:
    """uint8 ink-on-white arrays -> (B, 1, H, W) ink intensity (1 - px/255) and (B, H, W) mask,
    padded on the bottom/right to the batch maximum rounded up to `bucket` pixels."""
    g = max(1, bucket)
    hmax = -(-max(a.shape[0] for a in arrays) // g) * g
    wmax = -(-max(a.shape[1] for a in arrays) // g) * g
    images = torch.zeros(len(arrays), 1, hmax, wmax)
    mask = torch.zeros(len(arrays), hmax, wmax, dtype=torch.bool)
    for j, a in enumerate(arrays):
        h, w = a.shape
        images[j, 0, :h, :w] = 1.0 - torch.from_numpy(np.ascontiguousarray(a)).float() / 255.0
        mask[j, :h, :w] = True
    return images, mask


class Collate:
    """Picklable collate function (DataLoader workers) for SplitDataset items."""

    def __init__(self, vocab: Vocab, bucket: int) -> None:
        self.pad, self.bos, self.eos, self.bucket = vocab.pad_id, vocab.bos_id, vocab.eos_id, bucket

    def __call__(self, items: Sequence[tuple[int, np.ndarray, list[int]]]) -> Batch:
        images, mask = collate_images([a for _, a, _ in items], self.bucket)
        t = max(len(ids) for _, _, ids in items) + 1
        tgt_in = torch.full((len(items), t), self.pad, dtype=torch.long)
        tgt_out = torch.full((len(items), t), self.pad, dtype=torch.long)
        for j, (_, _, ids) in enumerate(items):
            n = len(ids)
            seq = torch.tensor(ids, dtype=torch.long)
            tgt_in[j, 0] = self.bos
            tgt_in[j, 1 : n + 1] = seq
            tgt_out[j, :n] = seq
            tgt_out[j, n] = self.eos
        return Batch(images, mask, tgt_in, tgt_out, [k for k, _, _ in items])
