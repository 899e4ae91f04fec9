from collections.abc import Callable

import numpy as np
import pytest
import torch

from img2tex.data.pipeline import BucketBatchSampler, Collate, SplitDataset, collate_images
from img2tex.images import ImageConfig
from img2tex.vocab import build_vocab


@pytest.fixture
def dataset(fake_split: type) -> Callable[..., SplitDataset]:
    """Factory: `dataset(n=40, max_tokens=150)` is a SplitDataset over `fake_split(n)`, with a
    vocabulary of its formulas and the default ImageConfig."""

    def make(n: int = 40, max_tokens: int = 150) -> SplitDataset:
        src = fake_split(n)
        vocab = build_vocab(f.split() for f in src.formulas)
        return SplitDataset(src, vocab, ImageConfig(), max_tokens=max_tokens)

    return make


def test_sampler_covers_each_item_once_and_is_seeded(dataset):
    ds = dataset()
    s = BucketBatchSampler.for_dataset(ds, batch_size=6, seed=3)
    e0 = s.batches(0)
    assert sorted(i for b in e0 for i in b) == list(range(len(ds)))
    assert e0 == BucketBatchSampler.for_dataset(ds, batch_size=6, seed=3).batches(0)
    assert e0 != s.batches(1)
    assert len(s) == len(e0) == 7


def test_sampler_groups_similar_shapes(dataset):
    ds = dataset(60)
    s = BucketBatchSampler.for_dataset(ds, batch_size=5, seed=0)
    shapes = ds.shapes()
    mixed = sum(len({shapes[i] for i in b}) > 1 for b in s.batches(0))
    assert mixed <= 3  # only at group boundaries


def test_sampler_resume_mid_epoch(dataset):
    ds = dataset()
    s = BucketBatchSampler.for_dataset(ds, batch_size=6, seed=1)
    s.set_epoch(2)
    full = list(s)
    s2 = BucketBatchSampler.for_dataset(ds, batch_size=6, seed=1)
    s2.load_state_dict({"epoch": 2, "position": 4})
    assert list(s2) == full[4:]
    assert list(s2) == full  # the next pass starts the epoch from the beginning


def test_collate_pads_and_frames_tokens(dataset):
    ds = dataset()
    items = [ds[0], ds[5]]
    b = Collate(ds.vocab, bucket=16)(items)
    v = ds.vocab
    assert b.images.shape[2] % 16 == 0 and b.images.shape[3] % 16 == 0
    h, w = items[0][1].shape
    assert b.mask[0, :h, :w].all() and not b.mask[0, h:, :].any() and not b.mask[0, :, w:].any()
    assert float(b.images[0, 0, h:, :].abs().sum()) == 0.0  # padding is background (no ink)
    n0 = len(items[0][2])
    assert b.tgt_in[0, 0] == v.bos_id and b.tgt_out[0, n0] == v.eos_id
    assert torch.equal(b.tgt_in[0, 1 : n0 + 1], b.tgt_out[0, :n0])
    assert (b.tgt_out[0, n0 + 1 :] == v.pad_id).all()
    assert b.indices == [0, 5]


def test_collate_images_ink_scale():
    a = np.array([[255, 0], [128, 255]], np.uint8)
    images, mask = collate_images([a], bucket=1)
    assert torch.allclose(images[0, 0], torch.tensor([[0.0, 1.0], [1 - 128 / 255, 0.0]]))
    assert mask.all()


def test_dataset_skips_long_formulas(dataset):
    ds = dataset(40, max_tokens=4)
    assert all(len(ids) <= 4 for ids in ds.ids)
    assert 0 < len(ds) < 40


def test_scale_jitter_resizes_some_items_reproducibly_per_epoch(fake_split):
    src = fake_split(40)
    vocab = build_vocab(f.split() for f in src.formulas)
    plain = SplitDataset(src, vocab, ImageConfig())
    jit = SplitDataset(src, vocab, ImageConfig(), scale_jitter=0.6, jitter_prob=0.5, seed=1)
    shapes = lambda ds: [ds[k][1].shape for k in range(len(ds))]  # noqa: E731
    base, e0 = shapes(plain), shapes(jit)
    changed = sum(a != b for a, b in zip(base, e0))
    assert 5 <= changed <= 35  # about half are resized; the rest are read as they are
    assert e0 == shapes(SplitDataset(src, vocab, ImageConfig(), scale_jitter=0.6, seed=1))
    jit.set_epoch(1)
    assert shapes(jit) != e0  # a new draw each epoch
    never = SplitDataset(src, vocab, ImageConfig(), scale_jitter=0.6, jitter_prob=0.0)
    assert shapes(never) == base


def test_jittered_items_are_prepared_ahead_and_batched_by_the_size_they_come_out_at(fake_split):
    src = fake_split(60)
    vocab = build_vocab(f.split() for f in src.formulas)
    ds = SplitDataset(src, vocab, ImageConfig(), scale_jitter=0.6, seed=2)
    fresh = SplitDataset(src, vocab, ImageConfig(), scale_jitter=0.6, seed=2)
    for epoch in (0, 1):
        ds.set_epoch(epoch)  # prepares the epoch's jittered images
        fresh.epoch = epoch  # the same epoch, nothing prepared: every item computed when read
        jittered = [k for k in range(len(ds)) if ds.jitter_factor(k, epoch) is not None]
        assert 10 <= len(jittered) <= 50
        assert set(ds._jittered[1]) == set(jittered)
        for k in range(len(ds)):
            assert np.array_equal(ds[k][1], fresh[k][1])  # prepared or not, the same pixels
        shapes = ds.epoch_shapes(epoch)
        assert all(shapes[k] == ds[k][1].shape for k in jittered)  # exact sizes, not stored ones
        assert any(shapes[k] != ds.shapes()[k] for k in jittered)
        sampler = BucketBatchSampler.for_dataset(ds, batch_size=5, seed=0)
        keys = sampler.epoch_keys(epoch)
        bucket = ds.image_cfg.bucket
        for k in jittered:
            h, w = ds[k][1].shape
            assert keys[k][:2] == (-(-h // bucket) * bucket, -(-w // bucket) * bucket)
        assert sorted(i for b in sampler.batches(epoch) for i in b) == list(range(len(ds)))
    plain = BucketBatchSampler.for_dataset(SplitDataset(src, vocab, ImageConfig()), batch_size=5)
    assert plain.epoch_keys is None  # without jitter the stored sizes are the sizes
