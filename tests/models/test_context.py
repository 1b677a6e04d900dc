import math

import pytest
import torch
import torch.nn.functional as F

from atrc_nas.models.context import LINEAR_ATTENTION_EPS, build_block
from atrc_nas.models.context_ops import CONTEXT_OPS, OpChoice

C, D, H, W = 12, 6, 5, 7


def _inputs(k_target: int = 3, k_source: int = 4):
    return (torch.randn(2, C, H, W), torch.randn(2, C, H, W),
            torch.randn(2, k_target, H, W), torch.randn(2, k_source, H, W))


@pytest.mark.parametrize("name", list(CONTEXT_OPS))
def test_every_op_forward_backward(name):
    block = build_block(OpChoice(name), C, D)
    target, source, t_aux, s_aux = (x.requires_grad_() for x in _inputs())
    out = block(target, source, t_aux, s_aux)
    assert out.shape == (2, D, H, W)
    if not CONTEXT_OPS[name].contributes:
        assert not out.any() and not list(block.parameters())
        return
    out.square().mean().backward()
    assert all(p.grad is not None for p in block.parameters())
    assert source.grad.abs().sum() > 0 and target.grad.abs().sum() > 0
    reads = CONTEXT_OPS[name].reads_aux
    assert (t_aux.grad is not None) == (reads == "target")
    assert (s_aux.grad is not None) == (reads == "source")


def test_global_matches_brute_force_linear_attention():
    block = build_block(OpChoice("global"), C, D).eval()
    target, source, _, _ = _inputs()
    out = block(target, source)
    q = block.query(target).flatten(2)  # [B, d, N]
    k = block.key(source).flatten(2)
    v = block.value(source).flatten(2)
    assert (q > 0).all() and (k > 0).all()  # Softplus
    weights = torch.einsum("bdn,bdm->bnm", q, k)  # k_j . q_i, no softmax, no scaling
    expected = torch.einsum("bnm,bdm->bdn", weights, v)
    expected = expected / weights.sum(-1).clamp_min(LINEAR_ATTENTION_EPS).unsqueeze(1)
    torch.testing.assert_close(out, expected.view(2, D, H, W), rtol=1e-4, atol=1e-5)


def test_global_denominator_is_clamped():
    block = build_block(OpChoice("global"), C, D).eval()
    key_bn = block.key[0][1][1]  # BN of the key's last ConvBN: softplus(-1e4) == 0
    torch.nn.init.zeros_(key_bn.weight)
    torch.nn.init.constant_(key_bn.bias, -1e4)
    out = block(*_inputs()[:2])
    assert torch.isfinite(out).all() and not out.any()


@pytest.mark.parametrize(("kernel_size", "dilation"), [(9, 1), (3, 2)])
def test_local_matches_unfold_reference(kernel_size, dilation):
    block = build_block(OpChoice("local", kernel_size=kernel_size, dilation=dilation), C, D).eval()
    assert (block.kernel_size, block.dilation) == (kernel_size, dilation)
    target, source, _, _ = _inputs()
    out = block(target, source)
    q, k, v = block.query(target), block.key(source), block.value(source)
    pad = dilation * (kernel_size // 2)
    n = kernel_size**2
    k_win = F.unfold(k, kernel_size, dilation=dilation, padding=pad).view(2, D, n, H * W)
    v_win = F.unfold(v, kernel_size, dilation=dilation, padding=pad).view(2, D, n, H * W)
    logits = torch.einsum("bdp,bdnp->bnp", q.flatten(2), k_win) / math.sqrt(D)
    expected = torch.einsum("bnp,bdnp->bdp", logits.softmax(1), v_win).view(2, D, H, W)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["t_label", "s_label"])
def test_label_contexts_match_reference_and_read_the_right_aux(name):
    block = build_block(OpChoice(name), C, D).eval()
    target, source, t_aux, s_aux = _inputs(k_target=3, k_source=4)
    out = block(target, source, t_aux, s_aux)
    logits = t_aux if name == "t_label" else s_aux
    regions = logits.flatten(2).softmax(dim=2)  # spatial softmax per class
    torch.testing.assert_close(regions.sum(-1), torch.ones(2, logits.shape[1]))
    descriptors = torch.einsum("bkp,bcp->bck", regions, source.flatten(2)).unsqueeze(-1)
    keys = block.key(descriptors).flatten(2)  # [B, d, K]
    values = block.value(descriptors).flatten(2)
    q = block.query(target).flatten(2)
    attn = (torch.einsum("bdp,bdk->bpk", q, keys) / math.sqrt(D)).softmax(-1)
    expected = torch.einsum("bpk,bdk->bdp", attn, values).view(2, D, H, W)
    torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-5)
    # only the aux it reads matters
    other = dict(zip(["t", "s"], (t_aux, s_aux), strict=True))
    other["s" if name == "t_label" else "t"] = torch.randn_like(other["s" if name == "t_label"
                                                                     else "t"])
    torch.testing.assert_close(block(target, source, other["t"], other["s"]), out)


@pytest.mark.parametrize("name", ["t_label", "s_label"])
def test_label_context_without_aux_is_an_error(name):
    target, source, _, _ = _inputs()
    with pytest.raises(ValueError, match="aux logits"):
        build_block(OpChoice(name), C, D)(target, source, None, None)


@pytest.mark.parametrize("name", ["global", "local", "t_label", "s_label"])
def test_value_bn_is_affine_only_outside_the_search(name):
    final = build_block(OpChoice(name), C, D)
    search = build_block(OpChoice(name), C, D, searching=True)
    assert final.value[1].affine and not search.value[1].affine
    for block in (final, search):
        assert all(bn.affine for bn in block.query.modules()
                   if isinstance(bn, torch.nn.BatchNorm2d))


def test_attention_convs_get_xavier_uniform_init():
    block = build_block(OpChoice("global"), 64, 32)
    conv = block.value[0]  # 64 -> 32, 1x1: xavier bound sqrt(6 / 96) = 0.25
    bound = math.sqrt(6 / (64 + 32))
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound  # PyTorch's default bound is only 1/8
    assert all(c.bias is None for c in block.modules() if isinstance(c, torch.nn.Conv2d))


def test_op_choice_is_canonical_plain_data():
    assert OpChoice("local") == OpChoice("local", kernel_size=9, dilation=1)
    assert OpChoice("local", {"dilation": 2}) == OpChoice("local", dilation=2)
    assert len({OpChoice("local"), OpChoice("local", kernel_size=9), OpChoice("global")}) == 2
    choice = OpChoice("local", kernel_size=5)
    assert choice.params == (("dilation", 1), ("kernel_size", 5))
    assert str(choice) == "local(kernel_size=5)"
    assert choice.canonical() == "local(dilation=1,kernel_size=5)"
    assert str(OpChoice("local")) == "local" and str(OpChoice("t_label")) == "t_label"
    for text in ("local(kernel_size=5)", "local( dilation = 2 , kernel_size=3 )", "global"):
        assert OpChoice.parse(str(OpChoice.parse(text))) == OpChoice.parse(text)
    assert OpChoice.parse("local(dilation=2,kernel_size=3)").kwargs == {
        "dilation": 2, "kernel_size": 3}


@pytest.mark.parametrize(("make", "match"), [
    (lambda: OpChoice("lokal"), "unknown context op 'lokal'.*known ops: none, global"),
    (lambda: OpChoice("global", kernel_size=3), r"no parameter\(s\) \['kernel_size'\]"),
    (lambda: OpChoice("local", kernel_size=4), "kernel_size=4 is invalid, expected an odd"),
    (lambda: OpChoice("local", kernel_size=True), "kernel_size=True is invalid"),
    (lambda: OpChoice("local", dilation=0), "dilation=0 is invalid"),
    (lambda: OpChoice.parse("local(kernel_size)"), "expected key=value"),
    (lambda: OpChoice.parse("local kernel_size=3"), "cannot parse context op"),
    (lambda: OpChoice.parse(3), "cannot parse context op"),
])
def test_op_choice_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_ops_table_metadata():
    assert [n for n, op in CONTEXT_OPS.items() if not op.on_diagonal] == ["s_label"]
    assert CONTEXT_OPS["t_label"].aux_tasks("semseg", "depth") == ("semseg",)
    assert CONTEXT_OPS["s_label"].aux_tasks("semseg", "depth") == ("depth",)
    assert CONTEXT_OPS["global"].aux_tasks("semseg", "depth") == ()
