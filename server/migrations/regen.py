"""Regenerate 0001_initial.py from the models (allowed until the first release; later add revisions instead).

Usage: .venv/bin/python -m server.migrations.regen
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from ..config import Settings
from . import HERE, revision

INITIAL = HERE / "versions" / "0001_initial.py"


def main() -> None:
    INITIAL.unlink(missing_ok=True)
    later = sorted(p for p in (HERE / "versions").glob("*.py") if p.name != "__init__.py")
    hidden = [p.rename(p.with_suffix(".hidden")) for p in later]  # autogenerate against 0001 alone
    try:
        with tempfile.TemporaryDirectory() as tmp:
            revision(Settings(database_url=f"sqlite:///{tmp}/regen.db", var_dir=Path(tmp)), "initial schema")
        new = next(p for p in (HERE / "versions").glob("*_initial_schema.py"))
        text = re.sub(r"^revision: str = .*$", 'revision: str = "0001"', new.read_text(), flags=re.M)
        text = re.sub(r"^Revision ID: .*$", "Revision ID: 0001", text, flags=re.M)
        text = text.replace("Revises: \n", "Revises:\n")
        INITIAL.write_text(text)
        new.unlink()
    finally:
        for p in hidden:
            p.rename(p.with_suffix(".py"))
    print(f"wrote {INITIAL}")


if __name__ == "__main__":
    main()
