"""The API's OpenAPI schema holds: it validates, and a property-based run of schemathesis over every
operation it describes — as an anonymous reader, as a Leadership Alliance member (a session) and with
an expired token, against a database holding published profiles with evidence at every tier, a
draft, a scheduled and an archived profile and a bulk dump of each tier — finds no server error, no
answer the schema does not describe (status code, content type, body, headers), and no request that
breaks the schema answered as if it were fine.

The run is in-process (the Django WSGI application inside the test's transaction), deterministic
(a fixed seed, derandomized Hypothesis, no example database) and bounded per operation, so CI gets
the same cases every time. The error answers it checks are declared once, in profiles/api/errors.py.
"""

import datetime

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from membership import tokens
from membership.models import ApiToken, Tier
from profiles.api import dumps
from profiles.models import EvidenceItem, Identifier, Institution, Relationship, TimelineEvent, Watchpoint

from .factories import (
    EvidenceItemFactory,
    IdentifierFactory,
    InstitutionFactory,
    RelationshipFactory,
    TimelineEventFactory,
    WatchpointFactory,
    tier,
)
from .factories_membership import alliance_member
from .factories_pages import full_profile

pytestmark = pytest.mark.django_db

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
]
# Not `positive_data_acceptance`: it takes every value the schema admits for one the API must accept, but
# cursors are opaque and identifiers carry ranges and check digits (`?asn=64512` is private use, an LEI
# has ISO 7064 check digits), so a schema-valid value is rightly refused with a 400 naming the parameter.
#: Fuzzed cases per operation and reader (schemathesis adds its examples and coverage cases).
MAX_EXAMPLES = 15
SEED = 20261129


def test_the_served_schema_validates_and_declares_every_refusal(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)  # OpenAPI 3.0 or 3.1, whichever drf-spectacular writes
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    operations = {f"{path} {method}": op for path, methods in schema["paths"].items() for method, op in methods.items()}
    assert len(operations) >= 15
    for name, operation in operations.items():
        for code in ("401", "406", "429"):
            assert "application/json" in operation["responses"][code]["content"], (name, code)
    listing = operations["/api/v1/evidence/ get"]["responses"]
    assert {"200", "304", "400", "404"} <= set(listing)
    assert {"ETag", "Cache-Control", "Vary"} <= set(listing["200"]["headers"])
    assert operations["/api/v1/changes/ get"]["responses"]["409"]["content"]


# --- the data the run reads ----------------------------------------------------------------------------------

@pytest.fixture
def known(settings, tmp_path):
    """Published profiles with every section and evidence at each tier, identifiers, relationships,
    triggered watchpoints, timeline entries; beside them a draft, a scheduled and an archived profile
    and unapproved evidence (all 404 to every reader); a bulk dump of each tier the run reads as.
    Returns the values worth trying in parameters."""
    settings.BTW_API_RATE_ANONYMOUS = "off"  # rate limits have their own tests (test_api_rate_limits.py);
    settings.BTW_API_RATE_TOKEN = "off"  # here they would only turn later cases into 429s
    circle, alliance = tier(Tier.STRATEGIC_CIRCLE_SLUG), tier(Tier.LEADERSHIP_ALLIANCE_SLUG)
    one, two = full_profile(3), full_profile(2, base_region="europe", criticality="critical")
    IdentifierFactory(institution=one, scheme=Identifier.Scheme.ASN, value="13335")
    IdentifierFactory(institution=one, scheme=Identifier.Scheme.WIKIDATA, value="Q4778915")
    locked = EvidenceItemFactory(institution=two, required_tier=alliance, quote="Alliance-only quote.")
    WatchpointFactory(institution=two, status=Watchpoint.Status.TRIGGERED, evidence=locked,
                      triggered_at=timezone.now(), status_note="It happened.", required_tier=circle)
    TimelineEventFactory(institution=one, evidence=locked, text=f"Cites [^ev:{locked.pk}].")
    hidden = [
        InstitutionFactory(status=Institution.Status.DRAFT),
        InstitutionFactory(published_at=timezone.now() + datetime.timedelta(days=3)),
        InstitutionFactory(status=Institution.Status.ARCHIVED),
    ]
    RelationshipFactory(source=one, target=hidden[0])
    EvidenceItemFactory(institution=one, review_state=EvidenceItem.Review.SUBMITTED)
    slugs = [one.slug, two.slug, *(h.slug for h in hidden)]
    settings.BTW_DUMP_DIR = tmp_path
    written = [dumps.export(slug) for slug in ("public", Tier.LEADERSHIP_ALLIANCE_SLUG)]
    return {
        "slug": [*slugs, "public", Tier.LEADERSHIP_ALLIANCE_SLUG, one.sectors.first().slug],
        "id": sorted({pk for model in (EvidenceItem, Relationship, Watchpoint, TimelineEvent)
                      for pk in model.objects.values_list("pk", flat=True)}) + [0],
        "institution": slugs,
        "sector": [one.sectors.first().slug],
        "asn": ["13335", "AS13335"],
        "wikidata": ["Q4778915"],
        "since": ["0", "now"],
        "as_of": [timezone.localdate().isoformat()],
        "stamp": [dump.directory.name for dump in written],
        "name": ["manifest.json", *(entry["name"] for entry in written[0].files)],
    }


def in_test_transaction(app):
    """The WSGI application, run inside the test's database transaction.

    Django closes the database connection when a request starts and finishes; the test client stops
    that, and so does this wrapper (the body is read before the signals come back). It also drops
    `Accept-Encoding`: the in-process transport hands the body over as sent, without undoing gzip as
    a real client would.
    """

    def wsgi(environ, start_response):
        environ.pop("HTTP_ACCEPT_ENCODING", None)
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = app(environ, start_response)
            try:
                body = b"".join(response)
            finally:
                response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]

    return wsgi


def session_cookie(user) -> dict:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


def expired_token() -> dict:
    issued = tokens.create_token(owner=alliance_member(), name="Old notebook", lifetime_days=30)
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - datetime.timedelta(days=1))
    return {"Authorization": f"Bearer {issued.text}"}


#: Who sends the cases: the headers they send, and how far the run goes for them. A member whose token
#: expired gets the same refusal (401) from every operation, so a few cases each show it is declared.
READERS = {
    "anonymous": (dict, {}),
    "leadership-alliance": (lambda: session_cookie(alliance_member()), {}),
    "expired-token": (expired_token, {"generation": {"max-examples": 2}, "phases": {"coverage": {"enabled": False}}}),
}


@pytest.fixture(params=list(READERS))
def api_schema(request, known):
    """The served schema, loaded by schemathesis, whose cases are sent as this reader."""
    # schemathesis 4.32 renames the running item through `_nodeid`, which pytest 9 no longer has;
    # giving it one keeps its per-operation reports working (they are named by operation anyway).
    request.node._nodeid = request.node.nodeid
    headers, narrower = READERS[request.param]
    config = {
        "seed": SEED,
        "headers": headers(),
        # Each reader brings their own credentials; a made-up bearer token only ever gets the 401 that
        # the expired-token reader already shows, so schemathesis does not invent them.
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none", "mode": "all",
                       "with-security-parameters": False},
        # Methods the schema does not list must get 405 (and never a 500): a few stand for all.
        "phases": {"coverage": {"unexpected-methods": ["POST", "PATCH", "DELETE"]}},
    }
    for key, value in narrower.items():
        config[key] = {**config[key], **value}
    config = schemathesis.Config.from_dict(config)
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", in_test_transaction(WSGIHandler()),
                                            config=config)

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        """Now and then a real slug or id, so detail endpoints answer 200 as well as 404."""
        if not path_parameters:
            return st.just(path_parameters)
        real = {name: st.sampled_from(known[name]) for name in path_parameters if name in known}
        return st.one_of(st.fixed_dictionaries(real).map(lambda chosen: {**path_parameters, **chosen}),
                         st.just(path_parameters))

    @schema.hook
    def flatmap_query(context, query):
        """Now and then real filter values and cursors, so filters match rows and streams move."""
        if not query:
            return st.just(query)
        real = {name: st.sampled_from(known[name]) for name in query if name in known}
        return st.fixed_dictionaries({}, optional=real).map(lambda chosen: {**query, **chosen})

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(case):
    """Run once per reader (`api_schema`'s params), as one subtest per operation."""
    case.call_and_validate(checks=CHECKS)
