"""The experiment key table (docs/experiment_keys.md) is generated from the schema."""

from pathlib import Path

from atrc_nas.config.keys import experiment_key_table, keys
from atrc_nas.platform.config import ExperimentConfig

DOC = Path(__file__).resolve().parents[2] / "docs" / "experiment_keys.md"


def test_the_key_table_is_the_schemas():
    assert DOC.read_text() == experiment_key_table(), (
        "docs/experiment_keys.md is stale: python -m atrc_nas.config.keys > "
        "docs/experiment_keys.md")


def test_every_key_is_in_the_table_with_a_meaning():
    found = {key: meaning for key, _, _, meaning in keys(ExperimentConfig)}
    for key in ("name", "data.val_fraction", "search.budgets", "search.budgets[i].fraction",
                "search.sample.<key>.distribution", "train.random.count",
                "train.trainer.select_by", "ray.storage_path"):
        assert key in found
    assert [key for key, meaning in found.items() if not meaning] == []
