import json
import math

import pytest
import torch

from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import PUBLISHED_DIR, REFERENCE_OPS, Genotype, resolve_genotype
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.arch import Architecture
from atrc_nas.search.space_io import load_space

NYUD = ("semseg", "depth", "normals", "edge")


def _logits_with_gap(gap: float, width: int = 5) -> torch.Tensor:
    """Logits whose softmax has top-1 minus top-2 == gap: p = (a, b, b, ...), a - b = gap."""
    b = (1.0 - gap) / width
    a = b + gap
    probs = torch.tensor([b, a] + [b] * (width - 2), dtype=torch.float64)
    return probs.log()


def test_fixing_triggers_exactly_at_the_gap_and_never_unfixes():
    space = SearchSpace.reference(("semseg", "depth"))
    arch = Architecture(space)
    row = arch.pairs.index(("semseg", "depth"))
    with torch.no_grad():
        arch.logits[row] = _logits_with_gap(0.3 - 1e-6).float()
    assert arch.fix_confident(0.3) == []
    with torch.no_grad():
        arch.logits[row] = _logits_with_gap(0.3 + 1e-6).float()
    assert arch.fix_confident(0.3) == [("semseg", "depth")]
    assert int(arch.fixed_index[row]) == 1  # global
    with torch.no_grad():  # the logits move on: the block stays fixed to its op
        arch.logits[row] = torch.tensor([5.0, 0.0, 0.0, 0.0, 0.0])
    assert arch.fix_confident(0.3) == [] and bool(arch.fixed[row])
    assert arch.genotype().op("semseg", "depth") == OpChoice("global")
    weights = arch.sample(tau=1.0)
    assert weights[row].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert arch.argmax_weights()[row].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert int(arch.fixed.sum()) == 1


def test_gumbel_samples_are_seeded_and_resumable():
    space = SearchSpace.reference(NYUD)
    a, b = Architecture(space, seed=3), Architecture(space, seed=3)
    assert torch.equal(a.sample(0.5), b.sample(0.5))
    state = a.rng_state()
    first = a.sample(0.5)
    a.set_rng_state(state)
    assert torch.equal(a.sample(0.5), first)
    weights = a.sample(0.5)
    assert torch.allclose(weights.sum(dim=1), torch.ones(16))
    diagonal = [a.pairs.index((t, t)) for t in NYUD]
    assert (weights[diagonal, 4] == 0).all()  # no s-label on the diagonal


def test_low_temperature_gives_exact_zeros_that_skip_ops():
    arch = Architecture(SearchSpace.reference(NYUD))
    with torch.no_grad():
        arch.logits.normal_(0, 3, generator=torch.Generator().manual_seed(0))
    weights = arch.sample(tau=0.01)
    assert (weights == 0).sum() > 0
    full = int(arch.contributes.sum())
    assert full == 12 * 4 + 4 * 3
    assert arch.ops_run(weights) < full
    assert arch.ops_run(arch.argmax_weights()) <= 16


def test_entropy_is_the_mean_over_searched_blocks_with_finite_gradients():
    space = SearchSpace(("semseg", "depth"), REFERENCE_OPS,
                        fixed={("depth", "semseg"): OpChoice("none")})
    arch = Architecture(space)
    # uniform logits: log 4 on the diagonal, log 5 off it; the pinned pair is not searched
    expected = (2 * math.log(4) + math.log(5)) / 3
    assert float(arch.entropy().detach()) == pytest.approx(expected, rel=1e-6)
    assert arch.entropy_report() == pytest.approx({"arch_entropy": expected,
                                                   "arch_entropy_uniform": expected}, rel=1e-6)
    with torch.no_grad():
        arch.logits[arch.searched] = torch.where(arch.available[arch.searched], 0.0, -1.0)
        arch.logits[arch.searched, 0] = 50.0  # certain: entropy about 0
    assert arch.entropy_report()["arch_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert arch.entropy_report()["arch_entropy_uniform"] == pytest.approx(expected)
    with torch.no_grad():
        arch.logits.normal_()
    arch.entropy().backward()
    assert torch.isfinite(arch.logits.grad).all()
    pinned = arch.pairs.index(("depth", "semseg"))
    assert bool(arch.fixed[pinned]) and arch.candidates[pinned] == (OpChoice("none"),)


def test_genotype_derivation_and_published_round_trip(tmp_path):
    published = resolve_genotype("published:nyud_hrnet18s")
    space = SearchSpace.reference(NYUD)
    arch = Architecture(space)
    with torch.no_grad():
        for row, pair in enumerate(arch.pairs):
            arch.logits[row, arch.candidates[row].index(published.op(*pair))] = 1.0
    genotype = arch.genotype(step=40000)
    assert genotype == published
    path = genotype.save(tmp_path / "atrc_genotype.json")
    data = json.loads(path.read_text())
    assert data == json.loads((PUBLISHED_DIR / "nyud_hrnet18s.json").read_text())
    assert data["step"] == 40000 and data["data"]["edge"]["normals"] == 1
    assert Genotype.load(path) == published


def test_wide_space_genotype_keeps_codes_and_names_ops(tmp_path):
    space = load_space("atrc_wide").build(("semseg", "depth"))
    arch = Architecture(space)
    row = arch.pairs.index(("depth", "semseg"))
    with torch.no_grad():
        arch.logits[:, 1] = 1.0  # global everywhere ...
        arch.logits[row, arch.candidates[row].index(OpChoice("local", dilation=2))] = 2.0
    data = json.loads(arch.genotype(step=7).save(tmp_path / "g.json").read_text())
    assert data["ops"]["depth"]["semseg"] == "local(dilation=2)"
    assert data["data"]["semseg"] == {"semseg": 1, "depth": 1}
    assert "semseg" not in data["data"]["depth"]  # no reference code for the dilated local
    assert Genotype.load(tmp_path / "g.json").op("depth", "semseg") == OpChoice("local",
                                                                              dilation=2)
