"""POST requests: API keys, locations, attributes, a photo, by API clients."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from ...city import City
from ...domain.errors import Forbidden, Invalid
from ...inputs import latitude, longitude, parse_id
from ...models import Address, ApiKey, Department, Service, ServiceRequest
from ...photos import ProcessedPhoto
from ..apikeys import check_api_key
from ..catalogue import service_by_code
from ..photos import attach_photo
from ..requests import Actor, NewRequest, check_new_request, create_request, record

ATTRIBUTE_RE = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def parse_attributes(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`attribute[CODE]=v` and `attribute[CODE][]=v` (repeated for several values)."""
    out: dict[str, Any] = {}
    for key, value in items:
        m = ATTRIBUTE_RE.match(key)
        if not m:
            continue
        code = m.group(1)
        if m.group(2) or code in out:
            prev = out.get(code)
            out[code] = [*(prev if isinstance(prev, list) else [prev] if prev is not None else []), value]
        else:
            out[code] = value
    return out


@dataclass
class Open311Post:
    service_code: str = ""
    lat: str = ""
    long: str = ""
    address_string: str = ""
    address_id: str = ""
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    device_id: str = ""
    account_id: str = ""
    description: str = ""
    media_url: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


def authorize(*, session: Session, api_key: str | None) -> ApiKey:
    key = check_api_key(session=session, key=api_key)
    if key is None:
        raise Forbidden("A valid api_key is required to create requests.", field="api_key", code="api_key")
    return key


@dataclass
class CheckedPost:
    """A post that passed every check needing no photo: what create() stores."""

    new: NewRequest
    media_url: str = ""


def check(
    *, session: Session, city: City, post: Open311Post, key: ApiKey, photo_follows: bool = False
) -> CheckedPost:
    """Everything about a post that needs no photo (the service, the location, the answers, the text): cheap,
    so it runs before the photo is decoded, and a post missing a required answer costs no decoding.

    `photo_follows`: the caller decodes a photo next; the transaction that read is ended (nothing was written),
    so SQLite's lock is not held while the photo is resized."""
    if not post.service_code.strip():
        raise Invalid("service_code is required.", field="service_code")
    service = service_by_code(session, post.service_code.strip(), public_only=True)
    lat = long = None
    address = post.address_string.strip()
    if post.lat.strip() or post.long.strip():
        if not (post.lat.strip() and post.long.strip()):
            raise Invalid("Give both lat and long.", field="lat")
        lat, long = latitude(post.lat), longitude(post.long)
    elif post.address_id.strip():
        address_id = parse_id(post.address_id)
        addr = session.get(Address, address_id) if address_id else None
        if addr is None:
            raise Invalid(f"Unknown address_id: {post.address_id.strip()}", field="address_id")
        lat, long, address = addr.lat, addr.long, address or addr.text
    if lat is None and not address:
        raise Invalid("A location is required: lat and long, address_string or address_id.", field="location")
    media_url = post.media_url.strip()
    if media_url and (urlsplit(media_url).scheme not in ("http", "https") or len(media_url) > 1000):
        raise Invalid("media_url must be an http or https URL.", field="media_url")
    new = NewRequest(
        service_code=service.code,
        description=post.description,
        lat=lat,
        long=long,
        address=address,
        attributes=post.attributes,
        channel="open311",
        reporter_name=f"{post.first_name.strip()} {post.last_name.strip()}".strip(),
        reporter_email=post.email,
        reporter_phone=post.phone,
        api_key_id=key.id,
        device_id=post.device_id.strip(),
        account_id=post.account_id.strip(),
    )
    check_new_request(session=session, city=city, new=new)
    if photo_follows:
        session.rollback()
    return CheckedPost(new=new, media_url=media_url)


def create(
    *,
    session: Session,
    city: City,
    post: CheckedPost,
    key: ApiKey,
    photo: ProcessedPhoto | None = None,
    media_dir: Path | None = None,
) -> tuple[ServiceRequest, str]:
    """Create a request from an API client; returns it with the department's name (for the notice)."""
    actor = Actor(label=f"Open311: {key.name}"[:200])
    req = create_request(session=session, city=city, new=post.new, actor=actor)
    if post.media_url:
        # shown to staff as a link; never fetched by the server (no requests to arbitrary URLs on a client's
        # behalf) and never republished (nobody has looked at what it points to)
        record(
            session=session,
            req=req,
            actor=actor,
            kind="media_url",
            public=False,
            data={"url": post.media_url},
        )
    if photo is not None and media_dir is not None:
        attach_photo(session=session, media_dir=media_dir, req=req, photo=photo, tz=city.tz)
    service = session.get(Service, req.service_id)
    dept = session.get(Department, service.department_id) if service and service.department_id else None
    return req, dept.name if dept else ""
