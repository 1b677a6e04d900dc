"""``python -m atrc_nas.pretrain``: a backbone weights file that ``model.pretrained`` loads,
with the record of how it was made."""

from __future__ import annotations

import hashlib
import json

import torch

from atrc_nas.models.backbones import create_backbone
from atrc_nas.pretrain import main

CONFIG = """
name: pre
seed: 1
output_dir: {out}
data:
  dataset: synthetic_nyud
  batch_size: 2
  crop_size: [32, 40]
  options: {{num_images: 8, image_size: [32, 40], seed: 1}}
model: {{network: multi_task, backbone: hrnet_tiny}}
optim: {{max_steps: 3}}
trainer: {{val_every_n_steps: 3, progress_bar: false}}
"""


def test_pretrain_writes_loadable_weights_and_a_record(tmp_path, capsys):
    config = tmp_path / "pre.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "runs"))
    weights = tmp_path / "w" / "backbone.pt"
    assert main([str(config), "--out", str(weights)]) == 0
    state = torch.load(weights, weights_only=True)
    checkpoint = torch.load(tmp_path / "runs" / "pre" / "checkpoints" / "last.ckpt",
                            weights_only=True)["state_dict"]
    assert state and all(torch.equal(v, checkpoint[f"network.backbone.{k}"])
                         for k, v in state.items())
    loaded = create_backbone("hrnet_tiny", pretrained=weights)
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items() if k in state)
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert record["steps"] == 3 and record["config"]["data"]["options"]["seed"] == 1
    assert record["tensors"] == len(state) and "test/semseg/miou" in record["test"]
    assert record["command"].startswith("python -m atrc_nas.pretrain")
    # an existing file is kept unless --overwrite; a .json name is refused
    assert main([str(config), "--out", str(weights)]) == 2
    assert main([str(config), "--out", str(tmp_path / "w.json")]) == 2
    err = capsys.readouterr().err
    assert f"--out {weights}: exists; pass --overwrite to replace it" in err
    assert "must name a weights file" in err and "Traceback" not in err


def test_the_shipped_backbone_is_the_one_its_record_and_config_describe():
    from pathlib import Path

    from atrc_nas.config import load_config
    from atrc_nas.platform.provenance import config_hash
    from atrc_nas.training.config import TrainConfig

    repo = Path(__file__).resolve().parents[2]
    weights = repo / "experiments" / "weights" / "hrnet_tiny_synthetic.pt"
    record = json.loads(weights.with_suffix(".json").read_text())
    assert record["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    config = load_config(repo / "experiments" / "pretrain_synthetic.yaml", TrainConfig)
    assert record["config_hash"] == config_hash(config.model_dump(mode="json"))
    create_backbone("hrnet_tiny", pretrained=weights)  # loads strictly
