import pickle

import pytest

from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import REFERENCE_OPS, resolve_genotype
from atrc_nas.models.space import SearchSpace, SearchSpaceError

NYUD = ("semseg", "depth", "normals", "edge")


def test_reference_space_candidates():
    space = SearchSpace.reference(NYUD)
    assert len(space.pairs()) == 16 and space.searched_pairs() == space.pairs()
    assert space.candidates_for("semseg", "depth") == REFERENCE_OPS
    diagonal = space.candidates_for("depth", "depth")
    assert [op.name for op in diagonal] == ["none", "global", "local", "t_label"]
    assert sum(len(space.candidates_for(*p)) for p in space.pairs()) == 12 * 5 + 4 * 4
    assert space.aux_tasks() == NYUD  # in the search every task has an aux head


def test_freeze_gives_the_genotype():
    space = SearchSpace.reference(NYUD)
    published = resolve_genotype("published:nyud_hrnet18s")
    assert space.freeze(published.ops, step=40000) == published
    indices = {p: space.candidates_for(*p).index(op) for p, op in published.ops.items()}
    assert space.freeze_indices(indices, step=40000) == published


def test_freeze_rejects_choices_outside_the_space():
    space = SearchSpace(NYUD, [OpChoice("none"), OpChoice("global")])
    choices = {p: OpChoice("global") for p in space.pairs()}
    assert space.freeze(choices).aux_tasks() == ()
    with pytest.raises(SearchSpaceError, match=r"pair \(target='edge', source='depth'\): local "
                                               r"is not a candidate; candidates: none, global"):
        space.freeze({**choices, ("edge", "depth"): OpChoice("local")})
    with pytest.raises(SearchSpaceError, match=r"no choice for pair \(target='semseg', "
                                               r"source='semseg'\)"):
        space.freeze({p: c for p, c in choices.items() if p != ("semseg", "semseg")})
    with pytest.raises(SearchSpaceError, match="index 2 out of range for 2 candidates"):
        space.freeze_indices({p: 2 for p in space.pairs()})


def test_wider_space_and_fixed_pairs():
    wide = [*REFERENCE_OPS, OpChoice("local", kernel_size=5), OpChoice("local", dilation=2)]
    space = SearchSpace(("semseg", "edge"), wide, fixed={("edge", "edge"): OpChoice("none")})
    assert space.searched_pairs() == [("semseg", "semseg"), ("semseg", "edge"),
                                      ("edge", "semseg")]
    assert space.candidates_for("edge", "edge") == (OpChoice("none"),)
    assert len(space.candidates_for("semseg", "edge")) == 7
    assert len(space.candidates_for("semseg", "semseg")) == 6
    assert pickle.loads(pickle.dumps(space)) == space and hash(space) == hash(space)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"tasks": ("edge", "edge"), "candidates": REFERENCE_OPS}, "distinct tasks"),
    ({"tasks": (), "candidates": REFERENCE_OPS}, "distinct tasks"),
    ({"tasks": NYUD, "candidates": [OpChoice("global")] * 2}, "distinct candidate ops"),
    ({"tasks": NYUD, "candidates": [OpChoice("s_label")]}, "no candidate op is offered on"),
    ({"tasks": NYUD, "candidates": REFERENCE_OPS,
      "fixed": {("edge", "edge"): OpChoice("s_label")}}, "not allowed on the diagonal"),
    ({"tasks": NYUD, "candidates": REFERENCE_OPS,
      "fixed": {("edge", "sal"): OpChoice("global")}}, "is not a pair of tasks"),
])
def test_invalid_spaces(kwargs, match):
    with pytest.raises(SearchSpaceError, match=match):
        SearchSpace(**kwargs)


def test_pinned_diagonal_needs_no_diagonal_candidate():
    space = SearchSpace(("semseg", "depth"), [OpChoice("s_label")],
                        fixed={("semseg", "semseg"): OpChoice("t_label"),
                               ("depth", "depth"): OpChoice("none")})
    assert space.searched_pairs() == [("semseg", "depth"), ("depth", "semseg")]
    with pytest.raises(SearchSpaceError, match=r"which pairs \[\('depth', 'depth'\)\] search"):
        SearchSpace(("semseg", "depth"), [OpChoice("s_label")],
                    fixed={("semseg", "semseg"): OpChoice("t_label")})


def test_unknown_task():
    with pytest.raises(KeyError, match="unknown task 'segm'"):
        SearchSpace(("segm",), REFERENCE_OPS)
