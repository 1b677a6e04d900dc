"""A broad table of bad inputs to every command: each is one clear error, never a traceback."""

from pathlib import Path

import pytest

from atrc_nas.data.__main__ import main as data_main
from atrc_nas.search.__main__ import main as search_main
from atrc_nas.train import main as train_main

TRAIN = "experiments/train_synthetic.yaml"
SEARCH = "experiments/search_synthetic.yaml"


def _files(tmp: Path) -> dict[str, str]:
    (tmp / "latin1.yaml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    (tmp / "dup.yaml").write_text("name: a\nname: b\n")
    (tmp / "list.yaml").write_text("- 1\n")
    (tmp / "tab.yaml").write_text("optim:\n\tlr: 1\n")
    (tmp / "empty.yaml").write_text("# nothing set\n")
    (tmp / "a_file").write_text("x")
    return {"latin1": str(tmp / "latin1.yaml"), "dup": str(tmp / "dup.yaml"),
            "list": str(tmp / "list.yaml"), "tab": str(tmp / "tab.yaml"), "dir": str(tmp),
            "empty": str(tmp / "empty.yaml"), "file": str(tmp / "a_file")}


TRAIN_CASES = [
    (["missing.yaml"], "missing.yaml: config file not found"),
    (["{dir}"], "is a directory"),
    (["{latin1}"], "not UTF-8 text"),
    (["{dup}"], "duplicate key 'name'"),
    (["{list}"], "the top level must be a mapping"),
    (["{tab}"], "not valid YAML"),
    ([TRAIN, "optim.lr=[1"], "override 'optim.lr=[1': not valid YAML"),
    ([TRAIN, "novalue"], "expected KEY=VALUE"),
    ([TRAIN, "optim.lrr=1"], "optim.lrr: unknown key (did you mean 'lr'?)"),
    ([TRAIN, "optim.lr=-1"], "optim.lr: must be greater than 0, got -1"),
    ([TRAIN, "optim.lr=abc"], "optim.lr: must be a valid number, got 'abc'"),
    ([TRAIN, "optim.momentum=1"], "optim.momentum: must be less than 1, got 1"),
    ([TRAIN, "optim.weight_decay=-1e-4"], "optim.weight_decay: must be greater than or equal"),
    ([TRAIN, "optim.max_steps=-1"], "optim.max_steps: must be greater than 0, got -1"),
    ([TRAIN, "optim.max_steps=300"], "optim.max_steps: must be a multiple of"),
    ([TRAIN, "optim.grad_clip=0"], "optim.grad_clip: must be greater than 0"),
    ([TRAIN, "data.batch_size=0"], "data.batch_size: must be greater than 0, got 0"),
    ([TRAIN, "data.batch_size=2.5"], "data.batch_size: must be a valid integer, got 2.5"),
    ([TRAIN, "data.val_fraction=-0.1"], "data.val_fraction: must be greater than or equal to 0"),
    ([TRAIN, "data.val_fraction=1.5"], "data.val_fraction: must be less than 1"),
    ([TRAIN, "data.crop_size=64*80"], "data.crop_size: must be a pair [H, W] (or 'HxW')"),
    ([TRAIN, "data.crop_size=[0, 80]"], "data.crop_size[0]: must be greater than 0"),
    ([TRAIN, "data.num_workers=-1"], "data.num_workers: must be greater than or equal to 0"),
    ([TRAIN, "data.dataset=nyu"], "data.dataset: unknown dataset; valid: synthetic_nyud"),
    ([TRAIN, "data.dataset=nyud", "data.options={}"], "data.root: dataset 'nyud' needs "
                                                      "data.root"),
    ([TRAIN, "data.tasks=[semseg, sal]"], "data.tasks[1]: dataset 'synthetic_nyud' has no "
                                          "task 'sal'"),
    ([TRAIN, "data.tasks=[]"], "data.tasks: List should have at least 1 item"),
    ([TRAIN, "data.options.num_imgs=3"], "data.options.num_imgs: unknown option"),
    ([TRAIN, "data.options.image_size=[0, 4]"], "data.options.image_size[0]: must be greater"),
    ([TRAIN, "data.options.local_structure=maybe"], "data.options.local_structure: must be a "
                                                    "valid boolean"),
    ([TRAIN, "model.backbone=resnet50"], "model.backbone: unknown backbone; valid:"),
    ([TRAIN, "model.network=atrcc"], "model.network: unknown network; valid:"),
    ([TRAIN, "model.genotype=nofile.json"], "model.genotype: genotype file nofile.json does "
                                            "not exist"),
    ([TRAIN, "model.genotype=published:nope"], "model.genotype: unknown published genotype"),
    ([TRAIN, "model.pretrained=/no/such.pth"], "model.pretrained: no such file"),
    ([TRAIN, "model.network=single_task", "model.genotype=null"],
     "model.options: network 'single_task' needs option task=..."),
    ([TRAIN, "model.network=fixed_local", "model.genotype=null", "model.options.kernel_size=4"],
     "model.options: context op 'local': parameter kernel_size=4 is invalid"),
    ([TRAIN, "model.options.dropout=0.1"], "model.options: network 'atrc' has no option(s)"),
    ([TRAIN, "trainer.accelerator=tpux"], "trainer.accelerator: must be 'auto', 'cpu'"),
    ([TRAIN, "trainer.devices=0"], "trainer.devices: must be a device count >= 1"),
    ([TRAIN, "trainer.strategy=ddpp"], "trainer.strategy: unknown strategy"),
    ([TRAIN, "trainer.precision=16"], "trainer.precision: must be '32-true'"),
    ([TRAIN, "trainer.limit_val_batches=0"], "trainer.limit_val_batches: must be a batch count"),
    ([TRAIN, "trainer.select_by=primary"], "trainer.select_by: 'primary' needs a single-task"),
    ([TRAIN, "data.val_fraction=0"], "trainer.select_by: data.val_fraction 0 leaves no "
                                     "validation split to select by: use 'last'"),
    ([TRAIN, "data.val_fraction=1"], "data.val_fraction: must be less than 1"),
    ([TRAIN, "trainer.val_metric_options.edge.num_threshold=9"],
     "trainer.val_metric_options.edge.num_threshold: unknown option"),
    ([TRAIN, "trainer.val_metric_options.edge.num_thresholds=0"],
     "trainer.val_metric_options.edge.num_thresholds: must be greater than or equal to 1"),
    ([TRAIN, "trainer.test_metric_options.edge.ground_truth=seg2bmap"],
     "override 'trainer.test_metric_options.edge.ground_truth=seg2bmap': "
     "trainer.test_metric_options.edge: task 'edge': its metric reads 'edge_boundary_gt'"),
    ([TRAIN, "trainer.val_metric_options.sal={}"], "trainer.val_metric_options.sal: task 'sal' "
                                                   "is not evaluated"),
    ([TRAIN, "trainer.single_task_references.semseg=.nan"], "must be a finite number"),
    ([TRAIN, "seed=-1"], "seed: must be greater than or equal to 0"),
    ([TRAIN, "name=a/b"], "name: must be a plain folder name"),
    ([TRAIN, "data.root=${ATRC_NAS_TEST_UNSET_VAR}"], "data.root: environment variable "
                                                      "ATRC_NAS_TEST_UNSET_VAR is not set"),
    ([TRAIN, "data.dataset=nyud", "data.options={}", "data.root=${ATRC_NAS_TEST_UNSET_VAR}"],
     "export ATRC_NAS_TEST_UNSET_VAR=DIR or override data.root=DIR. NYUD-v2 in the"),
    ([TRAIN, "output_dir={dir}/runs", "--resume"], "--resume: nothing to resume in"),
    (["{empty}", "name=x"], "empty.yaml: the file holds no settings"),
    ([TRAIN, "output_dir={file}"], "output_dir: is a file, not a folder"),
    ([TRAIN, "trainer.accelerator=cpu", "trainer.precision=16-mixed"],
     "trainer.precision: 16-mixed (float16 autocast) needs a GPU; on CPU use bf16-mixed"),
]


@pytest.mark.parametrize(("argv", "message"), TRAIN_CASES, ids=[" ".join(c[0])[-60:]
                                                                 for c in TRAIN_CASES])
def test_train_bad_inputs(tmp_path, capsys, argv, message):
    files = _files(tmp_path)
    for key, value in files.items():
        argv = [a.replace(f"{{{key}}}", value) for a in argv]
    code = train_main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert err.startswith("error: ")


SEARCH_CASES = [
    ([SEARCH, "space=nope"], "space: search space 'nope': no such file"),
    ([SEARCH, "data.val_fraction=0"], "data.val_fraction: the search scores its architectures "
                                      "on a validation split: must be greater than 0"),
    ([SEARCH, "optim.arch_lr=0"], "optim.arch_lr: must be greater than 0"),
    ([SEARCH, "trainer.val_metric_options.edge.num_thresholds=0"],
     "trainer.val_metric_options.edge.num_thresholds: must be greater than or equal to 1"),
    ([SEARCH, "trainer.val_metric_options.sal={}"],
     "trainer.val_metric_options.sal: task 'sal' is not evaluated"),
    ([SEARCH, "optim.arch_betas=[0.9]"], "optim.arch_betas[1]: required key missing"),
    ([SEARCH, "budget.gflops=1", "budget.fraction=0.5"], "budget.fraction: give the budget as "
                                                         "gflops or as fraction, not both"),
    ([SEARCH, "budget.fraction=1.5"], "budget.fraction: must be less than or equal to 1"),
    ([SEARCH, "schedule.temperature=[1, -1]"], "schedule.temperature[1]: must be greater than"),
    ([SEARCH, "schedule.fix_gap=2"], "schedule.fix_gap: must be less than or equal to 1"),
    ([SEARCH, "trainer.precision=16-mixed"], "trainer.precision: must be '32-true'"),
    ([SEARCH, "model.network=atrc"], "model.network: unknown key"),
]


@pytest.mark.parametrize(("argv", "message"), SEARCH_CASES, ids=[" ".join(c[0])[-50:]
                                                                   for c in SEARCH_CASES])
def test_search_bad_inputs(capsys, argv, message):
    code = search_main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err


DATA_CASES = [
    (["show", "--option", "num_imgs=3"], "num_imgs: unknown key (did you mean 'num_images'?)"),
    (["show", "--option", "image_size=[0, 4]"], "image_size[0]: must be greater"),
    (["show", "--dataset", "nyud"], "dataset 'nyud' needs root="),
    (["check", "--dataset", "nyud", "/no/such/folder"], "/no/such/folder"),
]


@pytest.mark.parametrize(("argv", "message"), DATA_CASES, ids=[" ".join(c[0]) for c in DATA_CASES])
def test_data_bad_inputs(capsys, argv, message):
    code = data_main(argv)
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err + captured.out and "Traceback" not in captured.err


def test_unavailable_accelerator_is_a_config_error_before_data_work(tmp_path, capsys):
    code = train_main([TRAIN, f"output_dir={tmp_path}", "trainer.accelerator=cuda"])
    err = capsys.readouterr().err
    assert code == 2 and "trainer: `CUDAAccelerator` can not run on your system" in err
    assert not (tmp_path / "synthetic_atrc_published").exists()


def test_run_time_input_errors_are_one_line(tmp_path, capsys):
    """Inputs only the run can judge: a dataset too small to carve a validation split from,
    an output folder that cannot be created."""
    tiny = [TRAIN, "data.options={num_images: 1, image_size: [32, 40]}", "optim.max_steps=2",
            "trainer.val_every_n_steps=2", "data.crop_size=[32, 40]", "data.batch_size=1"]
    assert train_main([*tiny, f"output_dir={tmp_path}"]) == 2
    err = capsys.readouterr().err
    assert "data.val_fraction, data.options.num_images:" in err and "Traceback" not in err
    small = [TRAIN, "data.options={num_images: 4, image_size: [32, 40]}", "optim.max_steps=2",
             "trainer.val_every_n_steps=2", "data.crop_size=[32, 40]", "data.batch_size=1",
             "model.backbone=hrnet_tiny"]
    assert train_main([*small, "output_dir=/proc/atrc_nas_test"]) == 2
    err = capsys.readouterr().err
    assert "output_dir: cannot create the run folder /proc/atrc_nas_test/" in err, err


def test_abbreviations_are_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main([TRAIN, "--resum"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --resum" in capsys.readouterr().err


def test_print_schema(capsys):
    assert train_main(["--print-schema"]) == 0
    assert '"TrainConfig"' in capsys.readouterr().out


def test_key_value_pairs_are_yaml_1_2_everywhere():
    import argparse

    from atrc_nas.cli import key_value

    assert key_value("lr=1e-3") == ("lr", 0.001)  # a float, as in the config overrides
    assert key_value("image_size=[40, 48]") == ("image_size", [40, 48])
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        key_value("no_equals_sign")
