from dataclasses import dataclass, field

import pytest

from atrc_nas.config import ConfigError, apply_overrides, from_dict, load_config, to_dict
from atrc_nas.training.config import TrainConfig


@dataclass
class Inner:
    size: tuple[int, int] = (1, 2)
    mode: str = "a"


@dataclass
class Outer:
    steps: int
    lr: float | None = None
    inner: Inner = field(default_factory=Inner)
    tags: list[str] = field(default_factory=list)


def test_from_dict_converts_nested_and_tuples():
    cfg = from_dict(Outer, {"steps": 3, "lr": 1, "inner": {"size": [4, 5]}, "tags": ["x"]})
    assert cfg.inner.size == (4, 5)
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert to_dict(cfg) == {"steps": 3, "lr": 1.0, "inner": {"size": [4, 5], "mode": "a"},
                            "tags": ["x"]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"steps": 1, "inner": {"sise": [1, 2]}}, "inner.sise: unknown key"),
        ({"steps": "many"}, "steps: expected int"),
        ({"steps": 1, "inner": {"size": [1, 2, 3]}}, "inner.size: expected 2 values"),
        ({}, "steps: required key"),
        ({"steps": True}, "steps: expected int"),
    ],
)
def test_from_dict_errors_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data, source="cfg.yaml")


def test_load_config_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  max_step: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: optim.max_step: unknown key.*max_steps"):
        load_config(path, TrainConfig)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml", TrainConfig)
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(path, TrainConfig)


def test_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("name: x\n")
    cfg = load_config(path, TrainConfig, ["optim.max_steps=2000", "data.tasks=[semseg, depth]"])
    assert cfg.optim.max_steps == 2000
    assert cfg.data.tasks == ["semseg", "depth"]
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["novalue"])
