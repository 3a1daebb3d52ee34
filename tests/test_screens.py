"""Screen fixes checked over HTTP (the browser tests are in tests/e2e/*_screens.py)."""

from __future__ import annotations

from bs4 import BeautifulSoup

from tests.factories import csrf


def test_report_sent_without_a_service_says_to_choose_one(client) -> None:
    """A plain form post (no JavaScript) with no service chosen: a clear message, in the page's language."""
    for lang, expected in (
        ("en", "Choose what the problem is first: search or pick a service from the list."),
        ("es", "Primero indique cuál es el problema: busque o elija un servicio de la lista."),
    ):
        token = csrf(client, f"/report?lang={lang}")
        r = client.post(
            "/report",
            data={"csrf_token": token, "description": "hole", "address": "98 Main St"},
            files=[("photos", ("", b"", "application/octet-stream"))],
            follow_redirects=False,
        )
        assert r.status_code == 400
        alert = BeautifulSoup(r.text, "html.parser").select_one("[role=alert]")
        assert alert is not None and alert.get_text(strip=True) == expected


def test_nearest_address_comes_from_the_city_list_or_earlier_requests(session, city) -> None:
    from server.config import ROOT
    from server.services.addresses import import_addresses, nearest_address
    from tests.factories import make_request

    assert nearest_address(session, 42.77845, -71.07770) is None  # no list yet, no earlier request
    make_request(session, city, lat=42.7700, long=-71.0800, address="Behind the library")
    near = nearest_address(session, 42.77005, -71.08005)
    assert near is not None and near.text == "Behind the library" and near.distance_m < 10
    import_addresses(session=session, city=city, path=ROOT / "server" / "cities" / "haverhill_addresses.csv")
    session.commit()
    near = nearest_address(session, 42.77845, -71.07770)
    assert near is not None and near.text == "98 Main St" and near.distance_m < 15
    assert nearest_address(session, 42.60, -71.30) is None  # nothing known within 150 m: no misleading name


def test_answers_as_read_uses_names_in_the_service_order() -> None:
    from server.domain.attributes import answers_as_read

    attributes = [
        {
            "code": "b",
            "order": 2,
            "description": "Which?",
            "datatype": "multivaluelist",
            "values": [{"key": "x", "name": "Ex"}, {"key": "y", "name": "Why"}],
        },
        {
            "code": "a",
            "order": 1,
            "description": "How big?",
            "datatype": "singlevaluelist",
            "values": [{"key": "medium", "name": "Tire-sized"}],
        },
        {"code": "c", "order": 3, "description": "Pole number", "datatype": "string"},
    ]
    answers = {"b": ["y", "x"], "a": "medium", "c": "HV-12", "gone": "old"}
    assert answers_as_read(attributes, answers) == [
        ("How big?", "Tire-sized"),
        ("Which?", "Why, Ex"),
        ("Pole number", "HV-12"),
        ("gone", "old"),
    ]
