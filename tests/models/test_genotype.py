import json
import pickle

import pytest

from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.genotype import (
    OPS_KEY,
    REFERENCE_OPS,
    Genotype,
    GenotypeError,
    published_genotypes,
    reference_code,
    resolve_genotype,
)

NYUD = ("semseg", "depth", "normals", "edge")
PUBLISHED = {  # atrc_method.md section 6
    "semseg": [3, 3, 4, 4], "depth": [4, 3, 4, 4], "normals": [4, 3, 3, 4], "edge": [3, 3, 1, 3],
}


def _data(rows=PUBLISHED, tasks=NYUD):
    return {t: dict(zip(tasks, codes, strict=True)) for t, codes in rows.items()}


def _write(path, payload):
    path.write_text(json.dumps(payload))
    return path


def test_reference_codes():
    names = [op.name for op in REFERENCE_OPS]
    assert names == ["none", "global", "local", "t_label", "s_label"]
    assert REFERENCE_OPS[2] == OpChoice("local", kernel_size=9, dilation=1)
    assert reference_code(OpChoice("local", kernel_size=5)) is None
    assert [reference_code(op) for op in REFERENCE_OPS] == [0, 1, 2, 3, 4]


def test_published_genotype_loads():
    assert "nyud_hrnet18s" in published_genotypes()
    g = resolve_genotype("published:nyud_hrnet18s", tasks=NYUD)
    assert g.tasks == NYUD and g.step == 40000
    assert g.codes() == _data()
    assert g.op("edge", "normals") == OpChoice("global")
    assert g.op("semseg", "edge") == OpChoice("s_label")
    assert g.aux_tasks() == NYUD
    assert [s for s, _ in g.sources("edge")] == list(NYUD)


PASCAL = ("semseg", "human_parts", "sal", "normals", "edge")


@pytest.mark.parametrize(("name", "tasks", "rows"), [
    ("nyud_hrnet48", NYUD, {"semseg": [3, 0, 0, 4], "depth": [4, 1, 1, 4],
                            "normals": [4, 1, 1, 4], "edge": [3, 3, 3, 3]}),
    ("pascal_hrnet18s", PASCAL, {"semseg": [3, 3, 4, 0, 4], "human_parts": [3, 3, 4, 3, 4],
                                 "sal": [3, 3, 3, 4, 3], "normals": [3, 3, 3, 3, 4],
                                 "edge": [3, 3, 3, 1, 3]}),
])
def test_the_other_published_genotypes_hold_the_published_matrices(name, tasks, rows):
    """The matrices of the original project's genotypes/ folder (rows: targets)."""
    assert set(published_genotypes()) >= {"nyud_hrnet18s", "nyud_hrnet48", "pascal_hrnet18s"}
    g = resolve_genotype(f"published:{name}", tasks=tasks)
    assert g.tasks == tasks and g.step == 40000
    assert g.codes() == _data(rows, tasks)


def test_round_trip_preserves_extra_keys(tmp_path):
    payload = {"data": _data(), "step": 123, "note": {"seed": 0}, "space": "atrc"}
    g = Genotype.load(_write(tmp_path / "in.json", payload))
    assert dict(g.extra) == {"note": {"seed": 0}, "space": "atrc"}
    out = g.save(tmp_path / "sub" / "atrc_genotype.json")
    assert json.loads(out.read_text()) == payload
    assert list(json.loads(out.read_text())) == ["data", "step", "note", "space"]
    assert Genotype.load(out) == g
    assert [p.name for p in out.parent.iterdir()] == ["atrc_genotype.json"]  # no temp files


def test_tasks_order_follows_the_caller(tmp_path):
    path = _write(tmp_path / "g.json", {"data": _data(), "step": 1})
    g = Genotype.load(path, tasks=("edge", "depth", "semseg", "normals"))
    assert g.tasks == ("edge", "depth", "semseg", "normals")
    assert g.op("edge", "normals") == OpChoice("global")
    assert g.stable_hash() == Genotype.load(path).stable_hash()


def test_wider_space_ops_are_stored_by_name(tmp_path):
    ops = dict(resolve_genotype("published:nyud_hrnet18s").ops)
    ops[("depth", "edge")] = OpChoice("local", kernel_size=5)
    ops[("edge", "edge")] = OpChoice("local", dilation=2)
    g = Genotype(NYUD, ops, step=7)
    payload = g.to_json_dict()
    assert payload[OPS_KEY]["depth"]["edge"] == "local(kernel_size=5)"
    assert payload[OPS_KEY]["edge"]["edge"] == "local(dilation=2)"
    assert payload[OPS_KEY]["semseg"]["depth"] == "t_label"
    assert "edge" not in payload["data"]["depth"] and payload["data"]["depth"]["semseg"] == 4
    assert payload["data"]["edge"] == {"semseg": 3, "depth": 3, "normals": 1}
    assert Genotype.load(g.save(tmp_path / "g.json")) == g
    assert OPS_KEY not in resolve_genotype("published:nyud_hrnet18s").to_json_dict()


def test_data_must_agree_with_ops(tmp_path):
    g = Genotype.uniform(NYUD, OpChoice("local", kernel_size=5))
    payload = g.to_json_dict()
    payload["data"] = {"depth": {"edge": 2}}
    with pytest.raises(GenotypeError, match=r"g\.json: pair \(target='depth', source='edge'\)"
                                            r": 'data' says 2 \(local\) but 'ops' says "
                                            r"local\(kernel_size=5\)"):
        Genotype.load(_write(tmp_path / "g.json", payload))


def _bad(mutate):
    data = _data()
    mutate(data)
    return {"data": data, "step": 5}


@pytest.mark.parametrize(("payload", "match"), [
    (_bad(lambda d: d["depth"].__setitem__("semseg", 5)),
     r"pair \(target='depth', source='semseg'\): code 5 out of range; expected an int 0..4"),
    (_bad(lambda d: d["depth"].__setitem__("semseg", -1)), "code -1 out of range"),
    (_bad(lambda d: d["depth"].__setitem__("semseg", "3")), "code '3' out of range"),
    (_bad(lambda d: d["depth"].__setitem__("semseg", True)), "code True out of range"),
    (_bad(lambda d: d["normals"].__setitem__("normals", 4)),
     r"pair \(target='normals', source='normals'\): s_label is not allowed on the diagonal"),
    (_bad(lambda d: d["edge"].pop("depth")),
     r"missing pair \(target='edge', source='depth'\) in 'data'"),
    (_bad(lambda d: d.pop("edge")), r"missing pair \(target='edge', source='semseg'\)"),
    (_bad(lambda d: d.__setitem__("saliency", {"sal": 3})),
     "unknown task 'saliency'; known tasks: semseg, human_parts"),
    (_bad(lambda d: d["depth"].__setitem__("parts", 1)),
     "unknown task 'parts'; known tasks"),
    ({"data": {"semseg": {"semseg": 3}}, "step": -1}, "'step' must be an int >= 0"),
    ({"step": 5}, "no 'data' matrix"),
    ({"data": [1, 2]}, "'data' must map target"),
    ([1, 2], "expected a JSON object"),
    ({"data": {"semseg": {"semseg": 3}}, OPS_KEY: {"semseg": {"semseg": "lokal"}}},
     r"pair \(target='semseg', source='semseg'\): unknown context op 'lokal'"),
    ({OPS_KEY: {"semseg": {"semseg": "local(kernel_size=2)"}}}, "kernel_size=2 is invalid"),
])
def test_validation_errors_name_the_file_and_pair(tmp_path, payload, match):
    path = _write(tmp_path / "bad_genotype.json", payload)
    with pytest.raises(GenotypeError, match=match) as err:
        Genotype.load(path)
    assert str(path) in str(err.value)


def test_unknown_task_against_expected_tasks(tmp_path):
    path = _write(tmp_path / "g.json", {"data": _data()})
    with pytest.raises(GenotypeError, match=r"unknown task 'edge' \(as a source\); expected "
                                            r"tasks: \['semseg', 'depth', 'normals'\]"):
        Genotype.load(path, tasks=("semseg", "depth", "normals"))
    with pytest.raises(GenotypeError, match=r"missing pair \(target='semseg', source='sal'\)"):
        Genotype.load(path, tasks=(*NYUD, "sal"))


def test_unknown_task_in_registry_and_file_errors(tmp_path):
    with pytest.raises(GenotypeError, match="unknown task 'segm'; known tasks: semseg"):
        Genotype.from_json_dict({"data": {"segm": {"segm": 1}}})
    with pytest.raises(GenotypeError, match="does not exist"):
        Genotype.load(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(GenotypeError, match=r"broken\.json: not valid JSON"):
        Genotype.load(broken)
    with pytest.raises(GenotypeError, match="unknown published genotype 'nope'"):
        resolve_genotype("published:nope")


def test_constructor_validates():
    ops = {(t, s): OpChoice("global") for t in NYUD for s in NYUD}
    with pytest.raises(GenotypeError, match=r"missing pair \(target='edge', source='edge'\)"):
        Genotype(NYUD, {p: o for p, o in ops.items() if p != ("edge", "edge")})
    with pytest.raises(GenotypeError, match="not allowed on the diagonal"):
        Genotype.uniform(NYUD, OpChoice("s_label"))
    with pytest.raises(GenotypeError, match="names unknown task 'sal'"):
        Genotype(NYUD, {**ops, ("sal", "edge"): OpChoice("global")})
    with pytest.raises(GenotypeError, match="duplicate tasks"):
        Genotype(("edge", "edge"), {("edge", "edge"): OpChoice("global")})
    with pytest.raises(GenotypeError, match=r"extra keys \['data'\] are reserved"):
        Genotype(NYUD, ops, extra={"data": {}, "note": 1})
    g = Genotype.uniform(NYUD, OpChoice("s_label"), diagonal=OpChoice("t_label"))
    assert g.op("edge", "edge") == OpChoice("t_label") and g.op("edge", "depth").name == "s_label"


def test_stable_hash():
    g = resolve_genotype("published:nyud_hrnet18s")
    same = Genotype(g.tasks[::-1], dict(g.ops), step=1, extra={"x": 1})
    assert g.stable_hash() == same.stable_hash() and hash(g) == hash(same)
    assert len(g.stable_hash()) == 16 and int(g.stable_hash(), 16) >= 0
    changed = dict(g.ops)
    changed[("edge", "normals")] = OpChoice("local")
    assert Genotype(g.tasks, changed).stable_hash() != g.stable_hash()
    assert g.stable_hash() == "322579752a66237d"  # fixed across processes and versions


def test_pickle_and_immutability():
    g = resolve_genotype("published:nyud_hrnet18s")
    assert pickle.loads(pickle.dumps(g)) == g
    with pytest.raises(TypeError):
        g.ops[("edge", "edge")] = OpChoice("global")


def test_matrix_text():
    text = resolve_genotype("published:nyud_hrnet18s").matrix_text()
    lines = text.splitlines()
    assert lines[0].split() == ["target", "\\", "source", *NYUD]
    assert lines[4].split() == ["edge", "t_label", "t_label", "global", "t_label"]
    column = lines[0].index("normals")  # columns are aligned
    assert lines[4][column:].startswith("global") and lines[1][column:].startswith("s_label")


def test_heatmap_png(tmp_path):
    g = Genotype.uniform(("semseg", "depth"), OpChoice("local", kernel_size=5))
    path = g.save_heatmap(tmp_path / "plots" / "genotype.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert [p.name for p in path.parent.iterdir()] == ["genotype.png"]
