"""Everything a dispatcher sees about one request, and the lists their filters and forms choose from."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from ..domain.attributes import answers_as_read
from ..domain.sla import is_overdue
from ..models import Activity, Crew, Department, Follower, Photo, Service, ServiceRequest, utcnow
from .addresses import place_of
from .catalogue import departments, list_services
from .followers import followers_of
from .requests import find_request


@dataclass
class CaseFile:
    req: ServiceRequest
    service: Service | None
    department: Department | None
    crew: Crew | None
    timeline: list[Activity]  # internal entries too: this is for staff
    photos: list[Photo]
    followers: list[Follower]
    master: ServiceRequest | None  # the request this one duplicates
    duplicates: list[ServiceRequest]  # the requests merged into this one
    overdue: bool
    place: str = ""  # the nearest known address, when the request has a point and no address
    answers: list[tuple[str, str]] = field(default_factory=list)  # (question, chosen names), as read


def case_file(session: Session, public_id: str) -> CaseFile:
    req = find_request(session, public_id)
    service = session.get(Service, req.service_id)
    return CaseFile(
        req=req,
        service=service,
        department=session.get(Department, service.department_id)
        if service and service.department_id
        else None,
        crew=session.get(Crew, req.crew_id) if req.crew_id else None,
        timeline=list(
            session.exec(
                select(Activity)
                .where(Activity.request_id == req.id)
                .order_by(Activity.created_at, Activity.id)  # type: ignore[arg-type]
            ).all()
        ),
        photos=list(session.exec(select(Photo).where(Photo.request_id == req.id).order_by(Photo.id)).all()),  # type: ignore[arg-type]
        followers=followers_of(session, req),
        master=session.get(ServiceRequest, req.duplicate_of_id) if req.duplicate_of_id else None,
        duplicates=list(
            session.exec(select(ServiceRequest).where(ServiceRequest.duplicate_of_id == req.id)).all()
        ),
        overdue=is_overdue(req.expected_at, str(req.status), utcnow()),
        place=place_of(session, req),
        answers=answers_as_read(service.attributes if service else [], req.attributes or {}),
    )


@dataclass
class Choices:
    services: list[Service]
    departments: list[Department]
    crews: list[Crew]  # active ones: what a request can be assigned to


def choices(session: Session) -> Choices:
    return Choices(
        services=list_services(session),
        departments=departments(session),
        crews=list(session.exec(select(Crew).where(Crew.active).order_by(Crew.name)).all()),
    )
