"""A round trip with third-party Open311 clients from PyPI, unchanged, against the real running server.

- `georeport` (0.3.1) reads: services, a definition, requests and one request, in JSON and in XML (xmltodict).
- `civicbot` (0.4.0) posts a request through its own form builder (attribute[CODE] and attribute[CODE][]).
- The photo goes up as the multipart field `media`, exactly as `three` (0.8.0) sends it
  (`session.post(url, data=kwargs, files={'media': f})`); `three` itself is Python 2 only (itertools.ifilter),
  so it cannot be imported here.
"""

from __future__ import annotations

import requests
from civicbot.open311 import Open311Client
from civicbot.registry import Endpoint
from georeport import GeoReport

from tests import photo_samples
from tests.factories import HAVERHILL_CITY_HALL
from tests.open311_helpers import api_key

LAT, LONG = HAVERHILL_CITY_HALL


def test_round_trip_with_pypi_clients(live_server, session, city) -> None:
    key = api_key(session, "round trip")
    root = live_server.url + "/open311/v2"
    reader = GeoReport(root, jurisdiction=city.jurisdiction_id)
    xml_reader = GeoReport(root, jurisdiction=city.jurisdiction_id, output_format="xml")

    # list services and read a definition, both formats
    services = reader.get_service_list()
    assert "pothole" in {s["service_code"] for s in services}
    assert "pothole" in {s["service_code"] for s in xml_reader.get_service_list()}
    definition = reader.get_service_definition("streetlight-out")
    assert {a["code"] for a in definition["attributes"]} == {"pole_number", "problem"}
    xml_definition = xml_reader.get_service_definition("streetlight-out")
    assert xml_definition["service_code"] == "streetlight-out"

    # post through civicbot's own form builder, which checks the answers against the live definition
    bot = Open311Client(
        Endpoint(id="haverhill", name="Haverhill", base_url=root, write=True),
        jurisdiction_id=city.jurisdiction_id,
    )
    prepared = bot.create_request(
        "streetlight-out",
        dry_run=False,
        confirm="SEND",
        api_key=key,
        validate_remote=True,
        lat=LAT,
        lng=LONG,
        description="Light out by City Hall",
        attributes={"problem": ["out", "flickering"], "pole_number": "N-12"},
        first_name="Ana",
        email="ana@example.com",
    )
    light_id = prepared.response[0]["service_request_id"]
    assert light_id.startswith(city.public_id_prefix + "-")

    # a photo as the multipart field `media`, the way `three` posts it
    with requests.Session() as http:
        resp = http.post(
            root + "/requests.json",
            data={
                "service_code": "pothole",
                "address_string": "4 Summer St",
                "first_name": "Zach",
                "last_name": "Williams",
                "description": "Pothole with a photo",
                "attribute[size]": "large",
                "jurisdiction_id": city.jurisdiction_id,
                "api_key": key,
                "lat": str(LAT),
                "long": str(LONG),
            },
            files={"media": ("photo.jpg", photo_samples.phone_jpeg(1200, 900), "image/jpeg")},
        )
    assert resp.status_code == 200, resp.text
    pothole_id = resp.json()[0]["service_request_id"]

    # read them back
    light = reader.get_service_request(light_id)
    assert light["service_code"] == "streetlight-out" and light["status"] == "open"
    assert "ana@example.com" not in str(light)
    pothole = reader.get_service_request(pothole_id)
    assert pothole["media_url"].startswith(live_server.url + "/media/")
    photo = requests.get(pothole["media_url"], timeout=10)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    assert xml_reader.get_service_request(pothole_id)["service_request_id"] == pothole_id

    # filter the list
    open_potholes = reader.get_service_requests(service_code="pothole", status="open")
    assert [r["service_request_id"] for r in open_potholes] == [pothole_id]
    both = reader.get_service_requests(service_request_id=f"{light_id},{pothole_id}")
    assert {r["service_request_id"] for r in both} == {light_id, pothole_id}
    xml_lights = xml_reader.get_service_requests(service_code="streetlight-out")
    assert xml_lights["service_request_id"] == light_id  # xmltodict: one <request> is a dict
    assert bot.get_request(light_id)["service_request_id"] == light_id
