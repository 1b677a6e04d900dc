import pytest
import torch

from atrc_nas.models.atrc import ATRCNetwork
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.cost import (
    Cost,
    aux_head_cost,
    block_costs,
    context_op_cost,
    count_flops,
    count_params,
    count_params_and_flops,
    feature_size,
    op_cost_table,
)
from atrc_nas.models.genotype import resolve_genotype
from atrc_nas.models.heads import HeadDims
from atrc_nas.models.layers import ConvBNReLU
from atrc_nas.models.space import SearchSpace

DIMS = HeadDims(48)  # C = 12, d = 6
C, D = 12, 6
SIZE = (5, 7)
N = 35  # pixels


def test_conv_bn_by_hand():
    block = ConvBNReLU(8, 4, relu=False)
    assert count_flops(block, torch.randn(1, 8, 5, 6)) == 2 * 8 * 4 * 30
    assert count_params(block) == 8 * 4 + 2 * 4
    assert count_flops(ConvBNReLU(8, 4, 3), torch.randn(2, 8, 5, 6)) == 2 * 2 * 8 * 4 * 9 * 30


def test_global_block_by_hand():
    convs = 2 * N * (3 * C * D + 2 * D * D)  # q and k: C->d, d->d; v: C->d
    attention = 2 * D * D * N + 2 * D * D * N + 2 * D * N  # V K^T, (V K^T) q, (sum k) . q
    params = 3 * C * D + 2 * D * D + 5 * 2 * D  # 5 BNs of d channels
    assert context_op_cost(OpChoice("global"), DIMS, SIZE) == Cost(params, convs + attention)


def test_label_block_by_hand():
    k = 3  # aux classes of the task whose predictions it reads
    query = 2 * N * (C * D + D * D)
    descriptors = 2 * k * N * C
    keys_values = 2 * k * (C * D + D * D) + 2 * k * C * D
    attention = 2 * N * D * k + 2 * D * k * N
    expected = query + descriptors + keys_values + attention
    assert context_op_cost(OpChoice("t_label"), DIMS, SIZE, target_aux_channels=k).flops == \
        expected
    assert context_op_cost(OpChoice("s_label"), DIMS, SIZE, source_aux_channels=k).flops == \
        expected


@pytest.mark.parametrize(("kernel_size", "dilation"), [(9, 1), (5, 2)])
def test_local_block_by_hand(kernel_size, dilation):
    convs = 2 * N * (3 * C * D + 2 * D * D)
    window = 2 * N * (D + D) * kernel_size**2  # q . k and attn . v over the window
    op = OpChoice("local", kernel_size=kernel_size, dilation=dilation)
    assert context_op_cost(op, DIMS, SIZE).flops == convs + window


def test_aux_head_and_none():
    assert aux_head_cost(DIMS, 4, SIZE) == Cost(48 * 48 + 2 * 48 + 48 * 4 + 4,
                                                2 * N * (48 * 48 + 48 * 4))
    assert context_op_cost(OpChoice("none"), DIMS, SIZE) == Cost(0, 0)


def test_feature_size():
    assert feature_size((425, 560)) == (107, 140)
    assert feature_size((512, 512)) == (128, 128)
    assert feature_size((64, 61)) == (16, 16)


def test_op_cost_table(nyud):
    space = SearchSpace.reference(nyud.tasks)
    table = op_cost_table(space, nyud, DIMS, (20, 28))
    assert set(table) == set(space.pairs())
    assert list(table[("edge", "edge")]) == list(space.candidates_for("edge", "edge"))
    size = (5, 7)
    # t-label reads the target's aux (semseg: 40 classes), s-label the source's (edge: 2)
    assert table[("semseg", "edge")][OpChoice("t_label")] == context_op_cost(
        OpChoice("t_label"), DIMS, size, target_aux_channels=40)
    assert table[("semseg", "edge")][OpChoice("s_label")] == context_op_cost(
        OpChoice("s_label"), DIMS, size, source_aux_channels=2)
    assert table[("semseg", "edge")][OpChoice("s_label")].flops < \
        table[("edge", "semseg")][OpChoice("s_label")].flops
    assert table[("depth", "normals")][OpChoice("global")] == context_op_cost(
        OpChoice("global"), DIMS, size)


def test_network_costs(tiny_backbone, nyud):
    net = ATRCNetwork(tiny_backbone, nyud, resolve_genotype("published:nyud_hrnet18s"))
    net.train()
    params, flops = count_params_and_flops(net, (1, 3, 64, 64))
    assert net.training  # mode restored
    assert params == sum(p.numel() for p in net.parameters())
    assert flops == count_flops(net.eval(), torch.zeros(1, 3, 64, 64)) > 0
    blocks = block_costs(net, (1, 3, 64, 64))
    assert len(blocks) == 16
    dims, size = net.dims, (16, 16)
    assert blocks[("edge", "normals")] == context_op_cost(OpChoice("global"), dims, size)
    assert blocks[("semseg", "edge")] == context_op_cost(OpChoice("s_label"), dims, size,
                                                         source_aux_channels=2)
    assert blocks[("depth", "depth")] == context_op_cost(OpChoice("t_label"), dims, size,
                                                         target_aux_channels=40)
    assert sum(c.flops for c in blocks.values()) < flops
