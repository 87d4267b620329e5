"""The layering of DESIGN.md ("Layout"), held by import-linter's contracts in pyproject.toml.

CI runs `lint-imports` on its own; running each contract here too means `make test` names the
broken rule. grimp reads function-local imports as well, so an upward import hidden in a function
body (a model's save() reaching for the search index) breaks a contract like any other.
"""

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"

CONTRACTS = [
    "membership-below-profiles",
    "audit-at-the-bottom",
    "siteurl-at-the-bottom",
    "apps-never-import-the-project",
    "profiles-write-side-layers",
    "profiles-acyclic",
]


@pytest.mark.parametrize("contract", CONTRACTS)
def test_import_contract_is_kept(contract, monkeypatch):
    monkeypatch.chdir(PYPROJECT.parent)
    assert lint_imports(str(PYPROJECT), limit_to_contracts=(contract,), no_cache=True, no_logo=True) == 0

