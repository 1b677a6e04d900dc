"""The one config system of every command: YAML + ``KEY=VALUE`` overrides, validated by
pydantic schemas (``schema.Section``) before any data, model or cluster work."""

from atrc_nas.config.errors import ConfigError
from atrc_nas.config.loading import (
    check_resumable,
    config_dict,
    json_schema,
    load_config,
    parse_config,
    result_changes,
    trusted_config,
)
from atrc_nas.config.schema import RESULT_NEUTRAL, Issue, Section, signature_model
from atrc_nas.config.yaml_io import Override, apply_overrides, parse_yaml, read_yaml

__all__ = [
    "RESULT_NEUTRAL",
    "ConfigError",
    "Issue",
    "Override",
    "Section",
    "apply_overrides",
    "check_resumable",
    "config_dict",
    "json_schema",
    "load_config",
    "parse_config",
    "parse_yaml",
    "read_yaml",
    "result_changes",
    "signature_model",
    "trusted_config",
]
