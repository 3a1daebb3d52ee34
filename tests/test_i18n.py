"""Every user-facing string has a Spanish translation in the merged catalogues (server/translations/es/*.po).

Strings are extracted the way `pybabel extract` does it: gettext calls in server/ (Python) and in the web/ and
field/ templates (jinja2's babel extractor). Plain-string messages of domain errors (translated where shown,
by server/errors.py) and the photo pipeline's MESSAGES are checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from server import i18n
from server.config import ROOT

ERROR_CLASSES = {"Invalid", "NotFound", "Forbidden", "Conflict", "InvalidTransition", "DomainError"}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}


def extracted() -> dict[str, str]:
    """msgid -> 'file:line' of its first use."""
    found: dict[str, str] = {}
    jobs = [
        (ROOT / "server", [("**.py", "python")]),
        (ROOT / "web" / "templates", [("**.html", "jinja2.ext:babel_extract")]),
        (ROOT / "field" / "templates", [("**.html", "jinja2.ext:babel_extract")]),
    ]
    for base, method_map in jobs:
        if not base.exists():
            continue
        options = {"**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
            str(base), method_map, options_map=options, keywords=KEYWORDS
        ):
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, f"{base.name}/{filename}:{lineno}")
    return found


def error_messages() -> dict[str, str]:
    """Literal first arguments of DomainError subclasses raised in server/ (f-strings cannot be looked up)."""
    found: dict[str, str] = {}
    for path in (ROOT / "server").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ERROR_CLASSES
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.setdefault(node.args[0].value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def spanish() -> dict[str, str]:
    merged: dict[str, str] = {}
    for po in sorted((ROOT / "server" / "translations" / "es" / "LC_MESSAGES").glob("*.po")):
        with open(po, "rb") as f:
            for m in read_po(f, locale="es"):
                if not m.id:
                    continue
                msgid = m.id[0] if isinstance(m.id, tuple) else m.id
                text = m.string[0] if isinstance(m.string, tuple) else m.string
                if text and not m.fuzzy:
                    merged[msgid] = text
    return merged


def test_every_gettext_string_has_a_spanish_translation() -> None:
    es = spanish()
    missing = {m: where for m, where in extracted().items() if m not in es}
    assert not missing, "no Spanish for:\n" + "\n".join(
        f"  {w}: {m!r}" for m, w in sorted(missing.items(), key=lambda t: t[1])
    )


def test_domain_error_and_photo_messages_have_spanish() -> None:
    from server.photos import MESSAGES

    es = spanish()
    wanted = {**error_messages(), **{m: "server/photos.py MESSAGES" for m in MESSAGES.values()}}
    missing = {m: where for m, where in wanted.items() if m not in es}
    assert not missing, "no Spanish for:\n" + "\n".join(
        f"  {w}: {m!r}" for m, w in sorted(missing.items(), key=lambda t: t[1])
    )


@pytest.mark.parametrize(
    "po", sorted((ROOT / "server" / "translations" / "es" / "LC_MESSAGES").glob("*.po")), ids=lambda p: p.name
)
def test_placeholders_match(po: Path) -> None:
    import re

    with open(po, "rb") as f:
        for m in read_po(f, locale="es"):
            if m.id and m.string and not isinstance(m.id, tuple):
                assert set(re.findall(r"%\(\w+\)s", m.id)) == set(re.findall(r"%\(\w+\)s", m.string)), m.id


def test_catalogues_are_loaded_at_start_up() -> None:
    i18n.set_language("es")
    try:
        assert i18n.gettext("Report a problem") == "Informar de un problema"
        assert i18n.gettext("Log in") != "Log in"
    finally:
        i18n.set_language("en")


def test_domain_errors_with_values_are_translated_wherever_they_are_shown() -> None:
    from server.domain.attributes import clean_answers
    from server.domain.errors import Invalid
    from server.errors import localized
    from server.i18n import set_language

    attrs = [
        {
            "code": "size",
            "datatype": "singlevaluelist",
            "required": True,
            "description": "Size",
            "values": [{"key": "small", "name": "Small"}],
        }
    ]
    try:
        clean_answers(attrs, {})
    except Invalid as e:
        assert e.message == "Please answer: Size"  # English for logs and the command line
        set_language("es")
        try:
            spanish = localized(e)
        finally:
            set_language("en")
        assert spanish != e.message and "Size" in spanish
    else:
        raise AssertionError("a missing required answer must be refused")


def test_messages_with_values_are_translated_with_their_values() -> None:
    """Errors that carry values (a status, a question's number) reach a Spanish-speaking user in Spanish."""
    from server.domain.errors import DomainError
    from server.domain.lifecycle import check_transition
    from server.errors import localized
    from server.services.admin import parse_questions

    i18n.set_language("es")
    try:
        with pytest.raises(DomainError) as same:
            check_transition("closed", "closed", None)
        assert localized(same.value) == "La solicitud ya tiene este estado."
        with pytest.raises(DomainError) as unknown:
            check_transition("open", "bogus", None)
        assert localized(unknown.value) == "Estado desconocido: bogus"
        with pytest.raises(DomainError) as question:
            parse_questions('[{"code": "a", "description": "A"}, {"code": "b"}]')
        assert localized(question.value) == "La pregunta 2 necesita un código y una descripción."
        assert question.value.message == "Question 2 needs a code and a description."  # logs and the CLI
    finally:
        i18n.set_language("en")
