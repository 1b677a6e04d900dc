import pytest

from atrc_nas.metrics import delta_m


def test_delta_m_signs_follow_metric_direction():
    mt = {"semseg": 44.0, "depth": 0.5, "normals": 22.0, "edge": 70.0}
    st = {"semseg": 40.0, "depth": 0.6, "normals": 20.0, "edge": 70.0, "sal": 80.0}
    # semseg +10 %, depth (lower better) +16.67 %, normals (lower better) -10 %, edge 0
    expected = (10.0 + 100 * 0.1 / 0.6 - 10.0 + 0.0) / 4
    assert delta_m(mt, st) == pytest.approx(expected)
    assert delta_m(st, st) == 0.0


def test_delta_m_errors():
    with pytest.raises(KeyError, match=r"lack task\(s\) \['depth'\]"):
        delta_m({"semseg": 1.0, "depth": 1.0}, {"semseg": 1.0})
    with pytest.raises(ValueError, match="at least one task"):
        delta_m({}, {"semseg": 1.0})
    with pytest.raises(ValueError, match="is 0"):
        delta_m({"semseg": 1.0}, {"semseg": 0.0})
    with pytest.raises(KeyError, match="unknown task"):
        delta_m({"segm": 1.0}, {"segm": 1.0})
