"""Schemas: errors name source, key, value and what is valid; JSON Schema; config diffs."""

import json
from typing import Annotated

import pytest
from pydantic import Field

from atrc_nas.config import (
    RESULT_NEUTRAL,
    ConfigError,
    Section,
    json_schema,
    load_config,
    parse_config,
    result_changes,
    signature_model,
)
from atrc_nas.config.schema import Size
from atrc_nas.search.config import SearchConfig
from atrc_nas.training.config import TrainConfig


class Inner(Section):
    size: Size = (1, 2)
    mode: str = "a"
    shown: Annotated[bool, RESULT_NEUTRAL] = True


class Outer(Section):
    steps: Annotated[int, Field(gt=0)]
    lr: float | None = None
    inner: Inner = Field(default_factory=Inner)
    tags: list[str] = Field(default_factory=list)

    def issues(self):
        return [(("tags",), "must not hold 'x'", self.tags)] if "x" in self.tags else []


def test_sections_convert_pairs_and_ints_to_floats():
    cfg = parse_config(Outer, {"steps": 3, "lr": 1, "inner": {"size": "4x5"}, "tags": ["y"]})
    assert cfg.inner.size == (4, 5) and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.model_dump(mode="json") == {"steps": 3, "lr": 1.0, "tags": ["y"],
                                           "inner": {"size": [4, 5], "mode": "a", "shown": True}}
    assert parse_config(Outer, {"steps": 1, "inner": None}).inner == Inner()


@pytest.mark.parametrize(("data", "message"), [
    ({"steps": 1, "inner": {"sise": [1, 2]}},
     r"cfg.yaml: inner.sise: unknown key \(did you mean 'size'\?\); valid keys here: size, "
     "mode, shown"),
    ({"steps": "many"}, "cfg.yaml: steps: must be a valid integer, got 'many'"),
    ({"steps": True}, "steps: must be a valid integer, got True"),
    ({"steps": 0}, "steps: must be greater than 0, got 0"),
    ({"steps": 1, "inner": {"size": [1, 2, 3]}}, r"inner.size: Tuple should have at most 2"),
    ({"steps": 1, "inner": {"size": "1by2"}}, r"inner.size: must be a pair \[H, W\]"),
    ({}, "steps: required key missing"),
    ({"steps": 1, "tags": ["x"]}, r"tags: must not hold 'x', got \['x'\]"),
    ({"steps": 1, "inner": 5}, r"inner: must be a section of keys \(a mapping\), got 5"),
])
def test_errors_name_the_source_key_and_value(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(Outer, data, source="cfg.yaml")


def test_errors_name_the_override_that_set_the_value(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("name: x\noptim:\n  lr: -1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, TrainConfig, ["data.batch_size=0"])
    lines = str(err.value).splitlines()
    assert f"{path}: optim.lr: must be greater than 0, got -1" in lines
    assert "override 'data.batch_size=0': data.batch_size: must be greater than 0, got 0" in lines


def test_signature_model_reads_types_ranges_and_defaults():
    def factory(root, count: Annotated[int, Field(ge=1)] = 3, size: tuple[int, int] = (1, 2),
                flag: bool = False, **kwargs):
        return None

    model = signature_model(factory, "FactoryOptions", exclude=("root",))
    assert list(model.model_fields) == ["count", "size", "flag"]
    assert model.model_validate({"size": [3, 4]}).size == (3, 4)
    with pytest.raises(ConfigError, match="count: must be greater than or equal to 1"):
        parse_config(model, {"count": 0})
    with pytest.raises(ConfigError, match="root: unknown key"):
        parse_config(model, {"root": "/"})


def test_result_changes_skip_neutral_fields():
    saved = parse_config(Outer, {"steps": 1}).model_dump(mode="json")
    changed = parse_config(Outer, {"steps": 2, "inner": {"shown": False, "mode": "b"}})
    assert result_changes(Outer, saved, changed.model_dump(mode="json")) == [
        "inner.mode: 'a' -> 'b'", "steps: 1 -> 2"]


@pytest.mark.parametrize("schema", [TrainConfig, SearchConfig])
def test_json_schema_lists_registry_names_and_ranges(schema):
    exported = json.loads(json_schema(schema))
    data = exported["$defs"]["DataConfig"]["properties"]
    assert "synthetic_nyud" in data["dataset"]["enum"]
    assert data["batch_size"]["exclusiveMinimum"] == 0
    assert "Fraction of the train split" in data["val_fraction"]["description"]
    assert exported["additionalProperties"] is False


def test_experiment_configs_load():
    for path, schema in (("experiments/train_synthetic.yaml", TrainConfig),
                         ("experiments/search_synthetic.yaml", SearchConfig)):
        assert load_config(path, schema).name
