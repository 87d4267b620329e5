"""The API's error answers, declared once in its OpenAPI schema.

Every refusal the API gives is JSON: a parameter that does not parse, or that the endpoint does not
know, is a 400 naming each such parameter (`{"page_size": ["A whole number from 1 to 200."]}`); every
other refusal is `{"detail": "…"}` — 401 (a bearer token that is malformed, unknown, revoked or
expired), 404 (no such object, or a cursor the API did not issue), 406 (an `Accept` the API cannot
answer), 409 (the change stream's cursor of another tier), 429 (over the rate limit, with
`Retry-After`). A data-layer view also answers a conditional request with 304 and sends `ETag`,
`Cache-Control` and `Vary` with every answer (`conditional`).

`declare_responses` (a drf-spectacular postprocessing hook, SPECTACULAR_SETTINGS) writes those
answers into every operation instead of each view repeating them, so a client generated from the
schema — and schemathesis in tests/test_api_schema.py — knows every answer the API can give.
"""

from __future__ import annotations

import re

#: The body of a 400: each refused query parameter with its reasons.
PARAMETER_ERRORS = {
    "type": "object",
    "description": "Each refused query parameter, with why.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "minProperties": 1,
}
#: The body of every other refusal.
ERROR = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "What went wrong, for a person to read."}},
    "required": ["detail"],
}

DESCRIPTIONS = {
    "304": "Not modified: `If-None-Match` names the current ETag.",
    "400": "A query parameter that does not parse, or that this endpoint does not know.",
    "401": "A bearer token that is malformed, unknown, revoked or expired.",
    "404": "No such object visible to you, or a cursor this API did not issue.",
    "406": "No representation matching the `Accept` header (the API writes JSON).",
    "429": "Over the rate limit: retry after `Retry-After` seconds.",
}

CACHING_HEADERS = {
    "ETag": {"schema": {"type": "string"}, "required": True,
             "description": "Send it back in `If-None-Match` to get 304 while nothing you may read changed."},
    "Cache-Control": {"schema": {"type": "string"}, "required": True,
                      "description": "`public` for anonymous readers, `private` for members."},
    "Vary": {"schema": {"type": "string"}, "required": True},
}
IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "schema": {"type": "string"},
    "description": "An ETag of an earlier answer: 304 without a body while it is still current.",
}
RETRY_AFTER = {"schema": {"type": "integer", "minimum": 0}, "required": True,
               "description": "Seconds until the rate limit's window ends."}
WWW_AUTHENTICATE = {"schema": {"type": "string"}, "required": True}


def declare_responses(result, generator, request, public):
    """Add the API's error answers (and, on the data-layer views, 304 and the caching headers) to
    every operation under `/api/v1/`; an answer a view declared itself keeps its description."""
    views = {_shape(path): callback.cls for path, _, _, callback in generator.endpoints}
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(ParameterErrors=PARAMETER_ERRORS, Error=ERROR)
    for path, methods in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        view = views.get(_shape(path))
        for operation in methods.values():
            _declare(operation, conditional=_answers_conditionally(view), filters=_filter_names(view))
    return result


def _declare(operation: dict, *, conditional: bool, filters: set[str]) -> None:
    parameters = operation.setdefault("parameters", [])
    for parameter in parameters:
        if parameter["in"] == "query" and parameter["name"] in filters:
            parameter["allowEmptyValue"] = True  # django-filter reads `?kind=` as no filter at all
    names = {(p["in"], p["name"]) for p in parameters}
    codes = ["401", "406", "429"]
    if conditional or any(where == "query" for where, _ in names):
        codes.append("400")  # data-layer views refuse unknown parameters, whatever they declare
    if any(where == "path" for where, _ in names) or ("query", "cursor") in names:
        codes.append("404")
    responses = operation.setdefault("responses", {})
    for code in codes:
        responses.setdefault(code, {"description": DESCRIPTIONS[code]})
    for code, response in responses.items():
        if code.startswith("4") and "content" not in response:
            body = "ParameterErrors" if code == "400" else "Error"
            response["content"] = {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}
    responses["401"].setdefault("headers", {})["WWW-Authenticate"] = WWW_AUTHENTICATE
    responses["429"].setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    if conditional:
        if ("header", "If-None-Match") not in names:
            parameters.append(IF_NONE_MATCH)
        responses.setdefault("304", {"description": DESCRIPTIONS["304"]})
        for code in ("200", "304"):
            responses[code].setdefault("headers", {}).update(CACHING_HEADERS)
    operation["responses"] = dict(sorted(responses.items()))


def _answers_conditionally(view_class) -> bool:
    """Views that answer conditional requests keep their ETag in `etag` (`views.DataLayerViewSet`,
    `changes.ChangesView`); they also refuse parameters they do not know."""
    return hasattr(view_class, "etag")


def _filter_names(view_class) -> set[str]:
    filterset = getattr(view_class, "filterset_class", None)
    return set(filterset.base_filters) if filterset is not None else set()


def _shape(path: str) -> str:
    """A path with its parameters unnamed: the URL conf's `{pk}` is the schema's `{id}`."""
    return re.sub(r"\{[^}]*\}", "{}", path)
