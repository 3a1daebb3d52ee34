"""Every string on the operator pages has a Spanish translation."""

from __future__ import annotations

import re

from babel.messages.extract import extract_from_file

from server import i18n
from server.config import ROOT
from server.pages.operator import OUTCOMES

SOURCES = ["server/services/calls.py", "server/services/intake.py", "server/pages/operator.py"]


def _template_strings() -> list[str]:
    found: list[str] = []
    for path in sorted((ROOT / "web/templates/operator").glob("*.html")):
        for _line, msg, _c, _ctx in extract_from_file(
            "jinja2.ext:babel_extract",
            str(path),
            keywords={"_": None, "ngettext": (1, 2)},
            options={"extensions": "jinja2.ext.i18n"},
        ):
            found.append(msg if isinstance(msg, str) else msg[0])
    return found


def test_every_operator_string_is_translated() -> None:
    es = i18n.catalog("es")
    strings = _template_strings() + [label for _, label in OUTCOMES]
    for path in SOURCES:
        strings += re.findall(
            r'(?:Invalid|NotFound|Forbidden|Conflict)\(\s*"([^"]+)"', (ROOT / path).read_text()
        )
    missing = [s for s in strings if es.gettext(s) == s and s not in {"ext."}]
    assert missing == []
