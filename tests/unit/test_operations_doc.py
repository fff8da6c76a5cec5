"""docs/operations.md names every setting, with its default, and no setting that does not exist."""

from __future__ import annotations

import enum
import re
from pathlib import Path

import attrs
import pytest

from cropedly.settings import PREFIX, Settings

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
_VARIABLE = re.compile(r"`(CROPEDLY_[A-Z0-9_]+)`")


def _rows() -> dict[str, str]:
    """Each variable named in the first cell of a table row, with that row."""
    rows: dict[str, str] = {}
    for line in OPERATIONS.read_text().splitlines():
        if not line.startswith("| `CROPEDLY_"):
            continue
        first = line.split("|")[1]
        for variable in _VARIABLE.findall(first):
            rows[variable] = line
    return rows


def _shown(value: object) -> str | None:
    """How a default is written in the table, or None when it is described in words."""
    if isinstance(value, enum.Enum):
        return f"`{value.value}`"
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"
    if isinstance(value, str) and value:
        return f"`{value}`"
    return None  # empty strings and paths: "(empty)", "`data` (relative to ...)"


FIELDS = list(attrs.fields(Settings))


@pytest.mark.parametrize("field", FIELDS, ids=[f.name for f in FIELDS])
def test_every_setting_has_a_row_with_its_default(field: attrs.Attribute[object]) -> None:
    variable = f"{PREFIX}{field.name.upper()}"
    rows = _rows()
    assert variable in rows, f"docs/operations.md has no table row for {variable}"
    shown = _shown(field.default)
    if shown is not None:
        assert shown in rows[variable], f"{variable}: default {shown} not in its row"


def test_no_row_names_a_setting_that_does_not_exist() -> None:
    known = {f"{PREFIX}{f.name.upper()}" for f in FIELDS}
    assert set() == set(_rows()) - known
