"""The data folders that ship with the package: the search-space files and the sources of
the local-attention extension.

In the repository they are top-level folders (``search_spaces/``, ``csrc/``); a wheel
carries them as package data (``atrc_nas/_data/<name>``, see pyproject.toml). Both are found
through ``importlib.resources``: the package data first, then, for a source checkout
(an editable install), the folder beside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SEARCH_SPACES = "search_spaces"
CSRC = "csrc"


def resource_dir(name: str) -> Path:
    """The folder ``name`` (``search_spaces`` or ``csrc``) wherever the package runs from."""
    package = resources.files("atrc_nas")
    packaged = package / "_data" / name
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(str(package)).parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the package's {name}/ folder is missing (looked in {packaged} "
                            f"and {checkout}); reinstall atrc-nas")
