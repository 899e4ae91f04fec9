import pytest
import torch

from img2tex.errors import ModelError
from img2tex.network.config import ModelConfig, cpu_config, paper_config
from img2tex.network.model import Img2TexModel, additive_scores, count_parameters, positional_encoding_2d


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_forward_shapes(cell, tiny_model):
    m = tiny_model(cell)
    images = torch.rand(3, 1, 32, 64)
    mask = torch.ones(3, 32, 64, dtype=torch.bool)
    logits = m(images, mask, torch.randint(0, 12, (3, 7)))
    assert logits.shape == (3, 7, 12)
    mem = m.encode(images, mask)
    assert mem.feats.shape == (3, 4 * 8, 16) and mem.mask.all()


@pytest.mark.parametrize(("strided", "residual"), [(0, False), (2, False), (0, True), (2, True)])
def test_padding_does_not_change_output(tiny_model, strided, residual):
    """A padded image in a batch decodes like the same image alone (masks + zero padding), also
    when blocks downsample by a strided convolution (its cells are centred on the same pixels)
    and when convolutions add their (masked) input to their output."""
    m = tiny_model(strided_blocks=strided, residual=residual)
    img = torch.rand(1, 1, 32, 48)
    alone = m(img, torch.ones(1, 32, 48, dtype=torch.bool), torch.tensor([[1, 5, 6]]))
    big = torch.zeros(2, 1, 48, 96)
    big[0, :, :32, :48] = img[0]
    big[1] = torch.rand(1, 48, 96)
    mask = torch.zeros(2, 48, 96, dtype=torch.bool)
    mask[0, :32, :48] = True
    mask[1] = True
    batched = m(big, mask, torch.tensor([[1, 5, 6], [1, 7, 8]]))
    # The 2-D positions of the first image's cells are the same in both grids, so its
    # features and the attention over its valid cells agree.
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


def test_strided_blocks_give_the_pooled_grid(tiny_model):
    """Blocks that downsample by a strided convolution give the max-pooled encoder's grid."""
    m = tiny_model(strided_blocks=2)
    # Blocks of 1, 2 and 2 convolutions: a strided block strides its first and pools after none.
    assert [c.stride for c in m.encoder.convs] == [(2, 2), (2, 2), (1, 1), (1, 1), (1, 1)]
    assert [p is None for p in m.encoder.pool_after] == [True, True, True, True, False]
    img, mask = torch.rand(1, 1, 32, 48), torch.ones(1, 32, 48, dtype=torch.bool)
    assert m.encode(img, mask).feats.shape == tiny_model().encode(img, mask).feats.shape == (1, 4 * 6, 16)


def test_residual_adds_no_weights_and_skips_the_later_convolutions(tiny_model):
    """`residual` adds each block's later convolutions' input to their output, with the plain
    encoder's weights: a residual convolution whose weights are zero passes its input through."""
    plain, res = tiny_model(), tiny_model(residual=True)
    res.load_state_dict(plain.state_dict())  # strict: the same weights, no new ones
    # Blocks of 1, 2 and 2 convolutions: the second of each block of two is residual.
    assert res.encoder.skip == [False, False, True, False, True]
    img, mask = torch.rand(1, 1, 32, 48), torch.ones(1, 32, 48, dtype=torch.bool)
    assert not torch.allclose(res.encode(img, mask).feats, plain.encode(img, mask).feats)
    with torch.no_grad():
        for i in (2, 4):  # a zero convolution and a normalization that keeps zero at zero
            res.encoder.convs[i].weight.zero_()
            res.encoder.norms[i].bias.zero_()
            res.encoder.norms[i].running_mean.zero_()
        enc, x = res.encoder, img
        for i in (0, 1, 3):  # what is left: each block's first convolution, then the block's 2x2 pool
            x = torch.nn.functional.max_pool2d(torch.relu(enc.norms[i](enc.convs[i](x))), 2, 2)
    out, _ = res.encoder(img, mask)
    assert torch.allclose(out, x, atol=1e-5)


@pytest.mark.parametrize(("blocks", "strided"), [([(8, 1, 2, 2)], 2), ([(8, 1, 2, 4)], 1)])
def test_bad_strided_blocks_are_refused(blocks, strided):
    with pytest.raises(ModelError, match="strided"):
        ModelConfig(enc_blocks=blocks, strided_blocks=strided).validate()


def test_step_matches_forward(tiny_model):
    m = tiny_model()
    images = torch.rand(2, 1, 32, 64)
    mask = torch.ones(2, 32, 64, dtype=torch.bool)
    tgt = torch.tensor([[1, 4, 5, 6], [1, 7, 7, 8]])
    full = torch.log_softmax(m(images, mask, tgt), dim=-1)
    state = m.init_state(m.encode(images, mask))
    for t in range(tgt.shape[1]):
        logp, state, _ = m.step(state, tgt[:, t])
        assert torch.allclose(logp, full[:, t], atol=1e-5)


def test_presets_and_config_round_trip():
    cpu, paper = cpu_config(500), paper_config(500)
    assert count_parameters(Img2TexModel(cpu)) < 10_000_000
    assert count_parameters(Img2TexModel(paper)) > count_parameters(Img2TexModel(cpu))
    assert ModelConfig.from_dict(paper.to_dict()) == paper
    assert cpu.downsample == (8, 8)


def test_bad_config_raises_model_error():
    with pytest.raises(ModelError):
        ModelConfig.from_dict({"cell": "transformer", "vocab_size": 10})
    with pytest.raises(ModelError):
        ModelConfig.from_dict({"bogus": 1})
    with pytest.raises(ModelError):
        Img2TexModel(ModelConfig(vocab_size=0))


def test_positional_encoding_distinguishes_cells():
    pe = positional_encoding_2d(4, 6, 16, torch.zeros(1))
    assert pe.shape == (24, 16)
    assert torch.cdist(pe, pe).add(torch.eye(24)).min() > 0.1


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_parallel_decoder_teacher_forcing_matches_step_by_step(cell):
    """The parallel decoder trains with fused calls over the whole target; decoding runs it one
    step at a time with the same weights: both must give the same log-probabilities."""
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=20,
        enc_blocks=[(8, 1, 2, 2), (16, 1, 2, 2), (16, 1, 2, 2)],
        emb_dim=8,
        hidden_dim=16,
        attn_dim=8,
        cell=cell,
        dropout=0.0,
        decoder="parallel",
    )
    m = Img2TexModel(cfg).eval()
    images, mask = torch.rand(2, 1, 32, 64), torch.ones(2, 32, 64, dtype=torch.bool)
    mask[1, :, 40:] = False
    tgt = torch.randint(4, 20, (2, 9))
    with torch.no_grad():
        full = torch.log_softmax(m(images, mask, tgt), dim=-1)
        state = m.init_state(m.encode(images, mask))
        steps = []
        for t in range(tgt.shape[1]):
            logp, state, alpha = m.step(state, tgt[:, t])
            steps.append(logp)
            assert torch.allclose(alpha.sum(1), torch.ones(2)) and (alpha[1].reshape(4, 8)[:, 5:] == 0).all()
    torch.testing.assert_close(full, torch.stack(steps, dim=1), atol=1e-5, rtol=1e-5)


def test_parallel_attention_chunks_give_the_same_result(monkeypatch):
    import img2tex.network.model as model_module

    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=20,
        enc_blocks=[(8, 1, 2, 2), (16, 1, 2, 2), (16, 1, 2, 2)],
        emb_dim=8,
        hidden_dim=16,
        attn_dim=8,
        dropout=0.0,
        decoder="parallel",
    )
    m = Img2TexModel(cfg).eval()
    images, mask, tgt = torch.rand(3, 1, 32, 64), torch.ones(3, 32, 64, dtype=torch.bool), torch.randint(4, 20, (3, 11))
    with torch.no_grad():
        whole = m(images, mask, tgt)
        monkeypatch.setattr(model_module, "ATTN_CHUNK_ELEMENTS", 1)  # one time step per chunk
        torch.testing.assert_close(m(images, mask, tgt), whole)


def test_additive_scores_match_autograd_in_value_and_gradient():
    """The hand-written backward against autograd's own, in float64 (float64 stays float64 on the
    CPU: only bf16/float16 inputs are moved to float32). gradcheck cannot be used: the backward
    reuses its saved tensor in place, so it runs once per forward, as training needs."""
    torch.manual_seed(0)
    inputs = [torch.randn(2, 5, 3), torch.randn(2, 4, 3), torch.randn(3)]
    keys, queries, v = (x.double().requires_grad_() for x in inputs)
    upstream = torch.randn(2, 4, 5, dtype=torch.float64)
    out = additive_scores(keys, queries, v)
    ref = torch.tanh(keys[:, None] + queries[:, :, None]) @ v
    torch.testing.assert_close(out, ref)
    got = torch.autograd.grad(out, (keys, queries, v), upstream)
    want = torch.autograd.grad(ref, (keys, queries, v), upstream)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_additive_scores_run_in_float32_on_the_cpu_under_bf16_autocast():
    keys, queries, v = torch.randn(2, 5, 3), torch.randn(2, 4, 3, requires_grad=True), torch.randn(3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = additive_scores(keys.bfloat16(), queries.bfloat16(), v.bfloat16())
    assert out.dtype == torch.float32
    out.sum().backward()
    assert queries.grad is not None and queries.grad.abs().sum() > 0


def test_unknown_decoder_is_refused():
    with pytest.raises(ModelError, match="decoder"):
        ModelConfig(vocab_size=20, decoder="transformer").validate()
