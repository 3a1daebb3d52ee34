"""Phone intake rules: services by words, address suggestions, the caller's history, filing and following."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from server.city import City
from server.config import ROOT
from server.models import Activity, Address, Call, Follower, ServiceRequest
from server.services import addresses, catalogue, intake
from server.services.addresses import import_addresses
from tests.factories import make_request, make_user

ADDRESSES = ROOT / "server" / "cities" / "haverhill_addresses.csv"


@pytest.mark.parametrize(
    ("words", "code"),
    [
        ("hole in the road", "pothole"),
        ("there's a big hole in the street", "pothole"),
        ("potho", "pothole"),
        ("Pothole", "pothole"),
        ("the streetlight is out", "streetlight-out"),
        ("someone dumped a mattress", "illegal-dumping"),
        ("they skipped my house, trash not picked up", "missed-trash"),
        ("tree limb down", "tree-down"),
        ("hoyo en la calle", "pothole"),
    ],
)
def test_the_callers_words_find_the_service(session: Session, words: str, code: str) -> None:
    found = catalogue.search_services(session, words, limit=8)
    assert found and found[0].code == code, [s.code for s in found]


def test_nothing_typed_nothing_found(session: Session) -> None:
    assert catalogue.search_services(session, "", limit=8) == []
    assert catalogue.search_services(session, "  ?! ", limit=8) == []
    assert isinstance(catalogue.search_services(session, "zzzzqqq", limit=8), list)


def test_address_suggestions_from_the_list_and_earlier_requests(session: Session, city: City) -> None:
    import_addresses(session=session, city=city, path=ADDRESSES)
    session.commit()
    found = addresses.suggest_addresses(session, "98 main", 8)
    assert found[0].text == "98 Main St" and found[0].lat and found[0].source == "address"
    by_street = addresses.suggest_addresses(session, "main st", 5)
    assert len(by_street) == 5 and all("Main St" in a.text for a in by_street)
    make_request(session, city, address="7 Zebra Lane", lat=42.78, long=-71.08)
    make_request(session, city, address="7 Zebra Lane", lat=42.78, long=-71.08)
    make_request(session, city, address="75 Zebra Lane", lat=42.781, long=-71.081)
    found = addresses.suggest_addresses(session, "7 zebra", 8)
    assert [(a.text, a.source) for a in found] == [("7 Zebra Lane", "request")]
    assert [a.text for a in addresses.suggest_addresses(session, "7", 20) if "Zebra" in a.text] == [
        "7 Zebra Lane",
        "75 Zebra Lane",
    ]
    assert addresses.suggest_addresses(session, "x", 8) == []
    assert len(addresses.suggest_addresses(session, "1", 3)) <= 3


def test_filing_a_phone_request_logs_the_call_and_keeps_contact_private(session: Session, city: City) -> None:
    op = make_user(session, "operator")
    form = intake.PhoneRequest(
        service_code="pothole",
        description="Deep hole by the bus stop",
        address="12 Newland Ave",
        lat=42.781,
        long=-71.07,
        attributes={"size": "large"},
        caller_name="Rosa Perez",
        caller_phone="(978) 555-0142",
        caller_email="rosa@example.com",
        caller_language="es",
        idempotency_key="form-1",
    )
    req, call = intake.file_request(session=session, city=city, operator=op, form=form)
    session.commit()
    assert req.public_id and req.channel == "phone" and req.reporter_phone == "978-555-0142"
    assert call.outcome == "request_created" and call.request_id == req.id and call.topic == "Pothole"
    created = session.exec(select(Activity).where(Activity.request_id == req.id)).one()
    assert created.actor_id == op.id
    follower = session.exec(select(Follower).where(Follower.request_id == req.id)).one()
    assert follower.email == "rosa@example.com" and follower.language == "es"  # her e-mail comes in Spanish
    # the confirmed address is learned for the next caller
    assert session.exec(select(Address).where(Address.text == "12 Newland Ave")).one().lat == 42.781
    # a double submit files nothing twice
    again, _ = intake.file_request(session=session, city=city, operator=op, form=form, call_id=call.id)
    assert again.id == req.id
    assert len(session.exec(select(ServiceRequest)).all()) == 1


def test_screen_pop_history(session: Session, city: City) -> None:
    op = make_user(session, "operator")
    mine = make_request(session, city, reporter_phone="978-555-0100", reporter_name="Luis Lopez")
    followed = make_request(session, city, description="someone else's")
    intake.follow_request(session=session, operator=op, ref=followed.public_id, caller_phone="9785550100")
    session.commit()
    hist = intake.caller_history(session, "+1 978 555 0100")
    assert [r.id for r in hist.requests] == [mine.id]
    assert [r.id for r in hist.followed] == [followed.id]
    assert hist.calls[0].outcome == "follower_added" and hist.name == "Luis Lopez"
    assert intake.caller_history(session, "").requests == []


def test_following_a_nearby_request_instead_of_a_duplicate(session: Session, city: City) -> None:
    op = make_user(session, "operator")
    existing = make_request(session, city)
    service = existing_service = session.get(intake.Service, existing.service_id)
    assert existing_service is not None
    near = intake.nearby_open(session, service, existing.lat + 0.0002, existing.long)
    assert [n.request.id for n in near] == [existing.id]
    version = existing.version
    req, call = intake.follow_request(
        session=session, operator=op, ref=existing.id, caller_name="Ana", caller_phone="978-555-0111"
    )
    session.commit()
    assert req.version == version + 1
    assert (
        session.exec(select(Follower).where(Follower.phone == "978-555-0111")).one().request_id == existing.id
    )
    assert session.get(Call, call.id).outcome == "follower_added"
