"""Strict YAML reading and KEY=VALUE overrides."""

import pytest

from atrc_nas.config import ConfigError, Override, apply_overrides, read_yaml


@pytest.mark.parametrize(("text", "value"), [
    ("1e-3", 1e-3), ("5e-4", 5e-4), ("-2E+2", -200.0), ("1.5", 1.5), (".5", 0.5),
    ("3", 3), ("1_000", 1000), ("0x10", 16), (".inf", float("inf")), ("'1e-3'", "1e-3"),
    ("64x80", "64x80"), ("e5", "e5"), ("1e", "1e"),
])
def test_numbers_read_as_in_yaml_1_2(tmp_path, text, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"x: {text}\n")
    assert read_yaml(path)["x"] == value
    assert Override.parse(f"x={text}").value == value


def test_duplicate_keys_are_errors_with_their_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("optim:\n  lr: 0.1\n  momentum: 0.9\n  lr: 0.2\n")
    with pytest.raises(ConfigError, match=r"dup.yaml: line 4: duplicate key 'lr' \(first given "
                                          r"on line 2\)"):
        read_yaml(path)


@pytest.mark.parametrize(("content", "message"), [
    (b"\xff\xfeoptim: 1\n", "not UTF-8 text"),
    (b"- a\n- b\n", "the top level must be a mapping"),
    (b"a: [1,\n", r"not valid YAML: line 2, column 1"),
    (b"a: !!python/object:os.system ls\n", "not valid YAML"),
])
def test_unreadable_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        read_yaml(path)


def test_missing_file_directory_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        read_yaml(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        read_yaml(tmp_path)
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert read_yaml(tmp_path / "empty.yaml") == {}


def test_overrides_fill_empty_sections_and_refuse_scalars():
    data = {"data": None, "name": "x"}
    apply_overrides(data, [Override.parse("data.options.num_images=4"),
                           Override.parse("data.tasks=[semseg, depth]")])
    assert data["data"] == {"options": {"num_images": 4}, "tasks": ["semseg", "depth"]}
    with pytest.raises(ConfigError, match=r"name holds 'x', not a section"):
        apply_overrides(data, [Override.parse("name.first=y")])


@pytest.mark.parametrize("text", ["novalue", "=3", "a..b=1", "a. b=1", " a=1"])
def test_malformed_overrides(text):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        Override.parse(text)


def test_override_with_broken_yaml():
    with pytest.raises(ConfigError, match=r"override 'optim.lr=\[1': not valid YAML"):
        Override.parse("optim.lr=[1")
