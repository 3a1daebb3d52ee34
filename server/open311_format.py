"""Open311 GeoReport v2 wire format: XML and JSON bodies, errors and datetimes, apart from the domain.

Rules (what clients parse): XML starts with the XML declaration; JSON is a bare array except a service
definition and discovery; every id and code is a string; datetimes are W3C/ISO 8601 in UTC with `Z`; booleans
are `true`/`false` in both formats; `None` is `null` in JSON and an empty element in XML.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from .inputs import xml_safe

try:  # optional: about 5x faster for the large GET requests lists
    import orjson
except ImportError:  # pragma: no cover - the fallback is the standard library
    orjson = None  # type: ignore[assignment]

FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# In XML a list is a wrapper element holding one child element per item.
LIST_ITEM = {
    "services": "service",
    "service_requests": "request",
    "service_request_updates": "request_update",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
    "photos": "photo",
}


def w3c(dt: datetime | None) -> str | None:
    """2026-11-27T02:43:45Z; None stays None."""
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.replace(microsecond=0).isoformat() + "Z"


def fmt_of_path(path: str) -> str:
    """The format a client asked for, from the URL suffix (errors use it too); JSON unless it says .xml."""
    return "xml" if path.rstrip("/").endswith(".xml") else "json"


# --- JSON -------------------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return w3c(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps_json(data: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(data, default=_default, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return json.dumps(
        data, ensure_ascii=False, separators=(",", ":"), check_circular=False, default=_default
    ).encode()


# --- XML --------------------------------------------------------------------------------------------------

_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        return w3c(value)  # type: ignore[return-value]
    # what XML 1.0 cannot hold (NUL and other controls, U+FFFE, U+FFFF, lone surrogates...) is dropped rather
    # than producing a broken document: the boundary refuses it, but rows stored before it or imported may hold it
    return xml_safe(str(value)).translate(_XML_ESCAPES)


def _element(out: list[str], tag: str, value: Any) -> None:
    if value is None or value == "":
        out.append(f"<{tag}/>")
    elif isinstance(value, Mapping):
        out.append(f"<{tag}>")
        for k, v in value.items():
            _element(out, k, v)
        out.append(f"</{tag}>")
    elif isinstance(value, list | tuple):
        child = LIST_ITEM.get(tag, "item")
        out.append(f"<{tag}>")
        for v in value:
            _element(out, child, v)
        out.append(f"</{tag}>")
    else:
        out.append(f"<{tag}>{_text(value)}</{tag}>")


def dumps_xml(root: str, data: Any) -> bytes:
    out = [XML_DECLARATION]
    _element(out, root, data)
    return "".join(out).encode()


# --- responses --------------------------------------------------------------------------------------------


def respond(
    fmt: str, root: str, data: Any, *, status: int = 200, cors: bool = False, headers: Mapping[str, str] = {}
) -> Response:
    """`root` is the XML root element: `services`, `service_definition`, `service_requests`, `errors`..."""
    body = dumps_json(data) if fmt == "json" else dumps_xml(root, data)
    return raw(fmt, body, status=status, cors=cors, headers=headers)


def raw(
    fmt: str, body: bytes, *, status: int = 200, cors: bool = False, headers: Mapping[str, str] = {}
) -> Response:
    h = {**headers, "Content-Type": CONTENT_TYPES[fmt]}
    if cors:
        h["Access-Control-Allow-Origin"] = "*"
    return Response(body, status_code=status, headers=h)


def error(fmt: str, status: int, description: str, *, code: int | str | None = None) -> Response:
    """`[{code, description}]` / `<errors><error>...`; the code is the HTTP status, as a string."""
    return errors(fmt, status, [(code or status, description)])


def errors(fmt: str, status: int, items: Iterable[tuple[int | str, str]]) -> Response:
    data = [{"code": str(c), "description": d} for c, d in items]
    return respond(fmt, "errors", data, status=status, cors=True)


# --- the documents ----------------------------------------------------------------------------------------


def service_item(s: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "service_code": str(s["code"]),
        "service_name": s["name"],
        "description": s["description"],
        "metadata": bool(s["attributes"]),
        "type": "realtime",
        "keywords": s["keywords"],
        "group": s["group"],
    }


def service_definition(code: str, attributes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    attrs = []
    for i, a in enumerate(sorted(attributes, key=lambda a: a.get("order", 0)), start=1):
        attrs.append(
            {
                "variable": bool(a.get("variable", True)),
                "code": str(a["code"]),
                "datatype": a.get("datatype", "string"),
                "required": bool(a.get("required", False)),
                "datatype_description": a.get("datatype_description") or None,
                "order": int(a.get("order") or i),
                "description": a.get("description", ""),
                "values": [{"key": str(v["key"]), "name": v.get("name", "")} for v in a.get("values", [])],
            }
        )
    return {"service_code": str(code), "attributes": attrs}


def discovery(*, base_url: str, contact: str, changeset: datetime, key_service: str) -> dict[str, Any]:
    return {
        "changeset": w3c(changeset),
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": base_url.rstrip("/") + "/open311/v2",
                "changeset": w3c(changeset),
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
