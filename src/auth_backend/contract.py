"""The hand-written OpenAPI contract, loaded once and served as it is."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

# In a built wheel the contract is packaged beside this module; in a source checkout
# (editable install, tests) it is read from the repository's openapi/ folder.
_SOURCE_TREE_CONTRACT = Path(__file__).resolve().parents[2] / "openapi" / "openapi.yaml"


def contract_path() -> Path:
    packaged = resources.files("auth_backend").joinpath("openapi.yaml")
    if packaged.is_file():
        return Path(str(packaged))
    return _SOURCE_TREE_CONTRACT


@cache
def load_contract() -> dict[str, Any]:
    with contract_path().open(encoding="utf-8") as file:
        spec: dict[str, Any] = yaml.safe_load(file)
    return spec
