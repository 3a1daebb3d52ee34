"""Every setting is documented in the README (datasette's habit: docs that cannot fall behind)."""

from __future__ import annotations

from server.config import ROOT, Settings


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert missing == []
