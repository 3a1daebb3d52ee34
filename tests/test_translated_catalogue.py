"""The city's services, questions and answers in the resident's language, as the city file translates them."""

from __future__ import annotations

from bs4 import BeautifulSoup

from server import i18n
from server.city import City
from server.domain.translated import translated

HX = {"HX-Request": "true"}


def test_the_demo_city_translates_every_public_service_question_and_answer(city: City) -> None:
    missing = []
    for s in city.services:
        for lang in set(i18n.LANGUAGES) - {"en"}:
            es = s.get("i18n", {}).get(lang, {})
            missing += [f"{s['code']} {lang} {f}" for f in ("name", "description") if not es.get(f)]
            for a in s.get("attributes", []):
                ae = a.get("i18n", {}).get(lang, {})
                if not ae.get("description"):
                    missing.append(f"{s['code']}/{a['code']} {lang}")
                if a.get("datatype_description") and not ae.get("datatype_description"):
                    missing.append(f"{s['code']}/{a['code']} {lang} datatype_description")
                for v in a.get("values", []):
                    if not v.get("i18n", {}).get(lang, {}).get("name"):
                        missing.append(f"{s['code']}/{a['code']}/{v['key']} {lang}")
    assert missing == []


def test_a_spanish_resident_reads_the_service_its_questions_and_answers_in_spanish(
    client, city: City
) -> None:
    pothole = next(s for s in city.services if s["code"] == "pothole")
    size = next(a for a in pothole["attributes"] if a["code"] == "size")
    es = BeautifulSoup(client.get("/report?service=pothole&lang=es").text, "html.parser")
    assert pothole["i18n"]["es"]["name"] in es.select_one("#service-title").get_text()
    assert pothole["i18n"]["es"]["description"] in es.get_text()
    legend = next(lg for lg in es.find_all("legend") if size["i18n"]["es"]["description"] in lg.get_text())
    labels = [label.get_text() for label in legend.parent.find_all("label")]
    assert labels == [v["i18n"]["es"]["name"] for v in size["values"]]
    en = BeautifulSoup(client.get("/report?service=pothole&lang=en").text, "html.parser")
    assert "Pothole" in en.select_one("#service-title").get_text()
    assert any(size["description"] in lg.get_text() for lg in en.find_all("legend"))


def test_a_spanish_name_finds_the_service(client, city: City) -> None:
    for s in city.services:
        if not s.get("public", True):
            continue
        name_es = s["i18n"]["es"]["name"]
        found = client.get("/report/services", params={"q": name_es, "lang": "es"}, headers=HX)
        codes = [a["data-service"] for a in BeautifulSoup(found.text, "html.parser").select("[data-service]")]
        assert s["code"] in codes, name_es


def test_open311_stays_in_the_city_files_language_and_shows_no_translation_table(client) -> None:
    for path, english in (
        ("/open311/v2/services/pothole.json", "Smaller than a dinner plate"),
        ("/open311/v2/services/pothole.xml", "Smaller than a dinner plate"),
        ("/open311/v2/services.json", "Pothole"),
    ):
        r = client.get(path, headers={"Accept-Language": "es"})
        assert r.status_code == 200
        assert "i18n" not in r.text and english in r.text


def test_translated_falls_back_to_the_text_as_written() -> None:
    answer = {"key": "small", "name": "Small", "i18n": {"es": {"name": "Pequeño"}}}
    assert translated(answer, "name", "es") == "Pequeño"
    assert translated(answer, "name", "en") == "Small"
    assert translated({"name": "Small"}, "name", "es") == "Small"
    assert translated({"description": None}, "description", "es") == ""
