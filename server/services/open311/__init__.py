"""Open311 GeoReport v2 use cases: the catalogue, the request queries and feed, and creation by API clients.

Everything returned here is already safe to publish: no reporter name, e-mail or phone, no internal note,
nothing of a non-public service. Values are wire-ready: request datetimes come back from the database as W3C
strings; other datetimes are objects that server/open311_format.py writes.
"""

from .arguments import RequestQuery, parse_query
from .catalogue import check_jurisdiction, data_version, public_services
from .creating import CheckedPost, Open311Post, authorize, check, create, parse_attributes
from .reading import find_requests, get_request, request_for_token, updates

__all__ = [
    "CheckedPost",
    "Open311Post",
    "RequestQuery",
    "authorize",
    "check",
    "check_jurisdiction",
    "create",
    "data_version",
    "find_requests",
    "get_request",
    "parse_attributes",
    "parse_query",
    "public_services",
    "request_for_token",
    "updates",
]
