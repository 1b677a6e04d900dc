"""Tiny experiments for the platform tests."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from atrc_nas.config import parse_config
from atrc_nas.platform.config import ExperimentConfig

TINY_EXPERIMENT: dict[str, Any] = {
    "name": "tiny",
    "data": {"dataset": "synthetic_nyud", "batch_size": 2, "val_fraction": 0.25,
             "crop_size": [32, 40],
             "options": {"num_images": 12, "image_size": [32, 40], "local_structure": True}},
    "model": {"backbone": "hrnet_tiny"},
    "search": {
        "optim": {"max_steps": 4, "lr": 0.01, "arch_lr": 0.05},
        "trainer": {"accelerator": "cpu", "val_every_n_steps": 2, "log_every_n_steps": 1,
                    "limit_val_batches": 1},
        "seeds": [0, 1],
        "budgets": [{"name": "free"}, {"name": "half", "fraction": 0.5, "weight": 1.0}],
        "sample": {"optim.arch_lr": {"distribution": "loguniform", "low": 0.01, "high": 0.1}},
        "num_samples": 1,
        "asha": {"enabled": False},
    },
    "train": {
        "seeds": [0], "baselines": ["multi_task"],
        "optim": {"max_steps": 4, "lr": 0.01},
        "trainer": {"accelerator": "cpu", "val_every_n_steps": 2, "log_every_n_steps": 1,
                    "limit_val_batches": 1, "val_metric_options": {"edge": {"num_thresholds": 5}},
                    "test_metric_options": {"edge": {"num_thresholds": 5}}},
        # one worker per run: two runs side by side on the 2-CPU test cluster
        "resources": {"workers": 1, "cpus_per_worker": 0.95},
    },
    "ray": {"address": "local", "num_cpus": 2},
}


def tiny_experiment(tmp_path: Path, **sections: Any) -> ExperimentConfig:
    """TINY_EXPERIMENT under ``tmp_path`` with sections merged in (one level deep)."""
    data = copy.deepcopy(TINY_EXPERIMENT)
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    data["output_dir"] = str(tmp_path)
    return parse_config(ExperimentConfig, data)


