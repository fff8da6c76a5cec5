"""The documentation's code and reference stay true."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cropedly.cli import openapi_document

DOCS = Path(__file__).resolve().parents[2] / "docs"
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks(name: str) -> list[str]:
    return _PYTHON_BLOCK.findall((DOCS / name).read_text())


@pytest.mark.parametrize("index", range(len(_blocks("embedding.md"))))
def test_embedding_examples_run(index: int) -> None:
    """Every Python example in docs/embedding.md runs as written."""
    exec(compile(_blocks("embedding.md")[index], f"embedding.md[{index}]", "exec"), {})


def test_committed_openapi_matches_the_served_one() -> None:
    """docs/openapi.json is what the server serves (refresh: cropedly openapi)."""
    committed = json.loads((DOCS / "openapi.json").read_text())
    assert json.loads(json.dumps(openapi_document())) == committed
