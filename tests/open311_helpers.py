"""Small helpers shared by the Open311 tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from server.city import City
from server.models import Service, ServiceRequest, utcnow
from server.services.apikeys import create_api_key
from tests.factories import make_request

V2 = "/open311/v2"
W3C_Z = "%Y-%m-%dT%H:%M:%SZ"


def api_key(session: Session, name: str = "Test client") -> str:
    _row, key = create_api_key(session=session, name=name)
    session.commit()
    return key


def xml_of(resp: Any) -> ET.Element:
    assert resp.text.startswith('<?xml version="1.0" encoding="utf-8"?>'), resp.text[:80]
    return ET.fromstring(resp.content)


def is_w3c_utc(value: str) -> bool:
    datetime.strptime(value, W3C_Z)
    return True


def hide_service(session: Session, code: str) -> Service:
    service = session.exec(select(Service).where(Service.code == code)).one()
    service.public = False
    session.add(service)
    session.commit()
    return service


def request_at(session: Session, city: City, days_ago: float, **kw: Any) -> ServiceRequest:
    return make_request(session, city, created_at=utcnow() - timedelta(days=days_ago), **kw)
