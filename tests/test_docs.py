"""The module map in docs/architecture.md names every module of the package, and no module that is gone."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "airflow_provider_restsync"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"


def test_the_architecture_map_names_every_module() -> None:
    text = ARCHITECTURE.read_text()
    map_block = text.split("```", 2)[1]
    modules = {
        path.name
        for folder in (PACKAGE, PACKAGE / "hooks", PACKAGE / "sql", PACKAGE / "operators")
        for path in folder.glob("*.py")
        if path.name != "__init__.py"
    }
    named = set(re.findall(r"\b([a-z_0-9]+\.py)\b", map_block))
    assert modules - named == set(), "modules missing from docs/architecture.md"
    assert named - modules - {"__init__.py"} == set(), "docs/architecture.md names modules that do not exist"
