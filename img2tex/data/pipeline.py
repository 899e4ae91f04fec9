"""From a `dataset.SplitDataset` to padded batches of tensors (the torch side of the data).

* `BucketBatchSampler`: batches of similar image size and formula length, so little compute goes
  into padding; shuffled with a (seed, epoch) generator and resumable mid-epoch.
* `collate_images` / `collate`: pad to the batch maximum rounded up to the bucket grid, with masks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from img2tex.data.dataset import SplitDataset
from img2tex.images import batch_arrays, bucket_shape
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


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of dataset positions with similar (bucketed) image shape and formula length.

    Each epoch: a (seed, epoch)-seeded permutation, a stable sort by (bucket shape, length band),
    consecutive chunks of `batch_size`, then the batch order shuffled. `position` batches of the
    current epoch are skipped, which is how a resumed run continues mid-epoch.

    With `world` > 1 (distributed training) every process draws the same epoch and takes batches
    rank, rank + world, ...; the epoch is cut to a whole number of rounds so that every process
    makes the same number of steps (DDP averages gradients at each one).

    `epoch_keys`, when given, supplies each epoch's keys (scale-jittered images change size from
    epoch to epoch); `keys` then only gives their number.
    """

    def __init__(
        self,
        keys: Sequence[tuple[int, ...]],
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world: int = 1,
        epoch_keys: Callable[[int], Sequence[tuple[int, ...]]] | None = None,
    ) -> None:
        self.keys, self.batch_size, self.seed, self.shuffle = list(keys), batch_size, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch_keys = epoch_keys
        self.epoch = 0
        self.position = 0
        self._cached: tuple[int, list[list[int]]] | None = None

    @classmethod
    def for_dataset(
        cls,
        ds: SplitDataset,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        length_band: int = 10,
        rank: int = 0,
        world: int = 1,
    ) -> BucketBatchSampler:
        band = [len(ids) // length_band for ids in ds.ids]

        def keys(shapes: Sequence[tuple[int, int]]) -> list[tuple[int, ...]]:
            return [bucket_shape(h, w, ds.image_cfg) + (b,) for (h, w), b in zip(shapes, band)]

        epoch_keys = (lambda epoch: keys(ds.epoch_shapes(epoch))) if ds.varies else None
        return cls(keys(ds.shapes()), batch_size, seed, shuffle, rank, world, epoch_keys)

    def batches(self, epoch: int) -> list[list[int]]:
        if self._cached is not None and self._cached[0] == epoch:
            return self._cached[1]
        keys = self.epoch_keys(epoch) if self.epoch_keys is not None else self.keys
        n = len(keys)
        if self.shuffle:
            rng = np.random.default_rng([self.seed, epoch])
            perm = rng.permutation(n).tolist()
        else:
            perm = list(range(n))
        order = sorted(perm, key=lambda i: keys[i])
        out = [order[s : s + self.batch_size] for s in range(0, n, self.batch_size)]
        if self.shuffle:
            idx = rng.permutation(len(out)).tolist()
            out = [out[i] for i in idx]
        self._cached = (epoch, out)
        return out

    def local_batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of the epoch (all of them without distributed training)."""
        out = self.batches(epoch)
        if self.world == 1:
            return out
        return out[self.rank : len(out) // self.world * self.world : self.world]

    def __len__(self) -> int:
        n = -(-len(self.keys) // self.batch_size)
        return n if self.world == 1 else n // self.world

    def __iter__(self) -> Iterator[list[int]]:
        start, self.position = self.position, 0
        yield from self.local_batches(self.epoch)[start:]

    def set_epoch(self, epoch: int, position: int = 0) -> None:
        self.epoch, self.position = epoch, position

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.epoch, self.position, self.seed = int(d["epoch"]), int(d["position"]), int(d.get("seed", self.seed))


def collate_images(arrays: Sequence[np.ndarray], bucket: int) -> tuple[Tensor, Tensor]:
    """`images.batch_arrays` as torch tensors."""
    images, mask = batch_arrays(arrays, bucket)
    return torch.from_numpy(images), torch.from_numpy(mask)


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
