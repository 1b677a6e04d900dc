import pytest

from atrc_nas.config import ConfigError
from atrc_nas.models.context_ops import OpChoice
from atrc_nas.models.space import SearchSpace
from atrc_nas.search.schedules import ScheduleConfig
from atrc_nas.search.space_io import load_space

NYUD = ("semseg", "depth", "normals", "edge")


def test_reference_file_declares_the_published_space():
    declaration = load_space("atrc")
    assert declaration.build(NYUD) == SearchSpace.reference(NYUD)
    assert declaration.schedule == ScheduleConfig(temperature=(1.0, 0.05),
                                                  entropy_weight=(-0.02, 0.06), fix_gap=0.3,
                                                  early_fixing=True)


def test_wide_file_adds_local_windows():
    space = load_space("atrc_wide").build(NYUD)
    extra = {OpChoice("local", kernel_size=5), OpChoice("local", kernel_size=13),
             OpChoice("local", kernel_size=9, dilation=2)}
    assert extra <= set(space.candidates_for("semseg", "depth"))
    assert len(space.candidates_for("semseg", "depth")) == 8
    assert len(space.candidates_for("depth", "depth")) == 7  # no s-label on the diagonal


def _write(tmp_path, text: str):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


def test_pins_the_diagonal_and_single_pairs(tmp_path):
    path = _write(tmp_path, """
name: pinned
candidates: [none, global, "local(kernel_size=5)", {t_label: null}]
pairs:
  diagonal: t_label
  fixed: {depth: {semseg: none}}
""")
    space = load_space(path).build(("semseg", "depth"))
    assert space.searched_pairs() == [("semseg", "depth")]
    assert space.candidates_for("depth", "depth") == (OpChoice("t_label"),)
    assert space.candidates_for("depth", "semseg") == (OpChoice("none"),)
    assert OpChoice("local", kernel_size=5) in space.candidates_for("semseg", "depth")


@pytest.mark.parametrize(("body", "message"), [
    ("candidates: [none, conv]", r"space.yaml: candidates\[1\]: unknown context op 'conv'"),
    ("candidates: [none, {local: {kernel_size: 4}}]",
     r"candidates\[1\]: context op 'local': parameter kernel_size=4 is invalid, expected an "
     r"odd int >= 1"),
    ("candidates: ['local(window=3)']", r"candidates\[0\]: context op 'local' has no "
                                        r"parameter\(s\) \['window'\]"),
    ("candidates: [none, [global]]", r"candidates\[1\]: expected an op as NAME"),
    ("candidates: [none, global, global]", r"candidates\[2\]: global is listed twice"),
    ("candidates: [s_label]", "candidates: no op is offered on the diagonal"),
    ("candidates: []", "candidates: the list is empty"),
    ("candidates: [none]\nschedule: {fix_gap: 2}",
     r"space.yaml: schedule.fix_gap: must be less than or equal to 1, got 2"),
    ("candidates: [none]\nschedule: {temprature: [1, 0.1]}",
     r"space.yaml: schedule.temprature: unknown key"),
    ("candidates: [none]\npairs: {diagonal: s_label}",
     "pairs.diagonal: s_label is not allowed on the diagonal"),
    ("candidates: [none]\nextra: 1", r"space.yaml: extra: unknown key"),
])
def test_invalid_files_name_the_file_and_key(tmp_path, body, message):
    path = _write(tmp_path, f"name: bad\n{body}\n")
    with pytest.raises(ConfigError, match=message):
        load_space(path)


def test_binding_to_tasks_checks_pinned_pairs(tmp_path):
    path = _write(tmp_path, "name: p\ncandidates: [none, global]\n"
                            "pairs: {fixed: {depth: {sal: global}}}\n")
    with pytest.raises(ConfigError, match=r"pairs.fixed.depth.sal: task 'sal' is not one of "
                                          r"the run's tasks"):
        load_space(path).build(("semseg", "depth"))
    path = _write(tmp_path, "name: p\ncandidates: [none, global]\n"
                            "pairs: {fixed: {depth: {depth: s_label}}}\n")
    with pytest.raises(ConfigError, match=r"s_label is not allowed on the diagonal"):
        load_space(path).build(("semseg", "depth"))


def test_unknown_space_name_lists_the_available_files():
    with pytest.raises(ConfigError, match=r"no search_spaces/nope.yaml \(available: .*atrc, "
                                          r"atrc_wide"):
        load_space("nope")
