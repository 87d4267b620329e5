"""Identifiers that join other datasets (PeeringDB, ASN, Wikidata, LEI, website): validated on input
in their one stored form, unique per profile as a form error, shown under "At a glance" as links,
retiring cached pages when they change, edited only where the profile is, and looked up by
`Institution.objects.with_identifier`."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from guardian.shortcuts import assign_perm

from profiles.models import Identifier, Institution

from .factories import IdentifierFactory, InstitutionFactory
from .test_admin import add_inline_row, admin_form_data, change_url, form_errors, login

pytestmark = pytest.mark.django_db

Scheme = Identifier.Scheme
PREFIX = "identifiers"


def cleaned(scheme, value) -> str:
    """The value as stored after the model's validation (raises ValidationError when refused)."""
    identifier = Identifier(institution=InstitutionFactory(), scheme=scheme, value=value)
    identifier.full_clean()
    return identifier.value


@pytest.mark.parametrize(
    ("scheme", "typed", "stored"),
    [
        (Scheme.PEERINGDB_ORG, "4130", "4130"),
        (Scheme.PEERINGDB_NET, " 4224 ", "4224"),
        (Scheme.PEERINGDB_IX, "0031", "31"),
        (Scheme.PEERINGDB_FAC, "1", "1"),
        (Scheme.ASN, "AS13335", "13335"),
        (Scheme.ASN, "as13335", "13335"),
        (Scheme.ASN, "13335", "13335"),
        (Scheme.ASN, "1", "1"),
        (Scheme.ASN, "4199999999", "4199999999"),
        (Scheme.WIKIDATA, "Q42", "Q42"),
        (Scheme.WIKIDATA, "q42", "Q42"),
        (Scheme.LEI, "5493001KJTIIGC8Y1R12", "5493001KJTIIGC8Y1R12"),
        (Scheme.LEI, "hwupkr0mpou8fgxbt394", "HWUPKR0MPOU8FGXBT394"),
        (Scheme.WEBSITE, "https://www.de-cix.net/", "https://www.de-cix.net/"),
    ],
)
def test_well_formed_identifier_is_stored_in_its_one_form(scheme, typed, stored):
    assert cleaned(scheme, typed) == stored


@pytest.mark.parametrize(
    ("scheme", "value", "says"),
    [
        (Scheme.PEERINGDB_NET, "0", "positive whole number"),
        (Scheme.PEERINGDB_NET, "-5", "positive whole number"),
        (Scheme.PEERINGDB_ORG, "net/4224", "positive whole number"),
        (Scheme.PEERINGDB_FAC, "12345678901", "positive whole number"),
        (Scheme.ASN, "AS", "from 1 to 4294967295"),
        (Scheme.ASN, "4294967296", "from 1 to 4294967295"),
        (Scheme.ASN, "AS1.10", "from 1 to 4294967295"),
        (Scheme.ASN, "0", "reserved"),
        (Scheme.ASN, "23456", "AS_TRANS"),
        (Scheme.ASN, "64512", "private use"),
        (Scheme.ASN, "65534", "private use"),
        (Scheme.ASN, "65535", "reserved"),
        (Scheme.ASN, "64500", "documentation"),
        (Scheme.ASN, "4200000000", "private use"),
        (Scheme.ASN, "4294967294", "private use"),
        (Scheme.WIKIDATA, "42", "Q followed by its number"),
        (Scheme.WIKIDATA, "Q042", "Q followed by its number"),
        (Scheme.WIKIDATA, "P31", "Q followed by its number"),
        (Scheme.LEI, "5493001KJTIIGC8Y1R1", "20 letters and digits"),
        (Scheme.LEI, "5493001KJTIIGC8Y1RAB", "20 letters and digits"),
        (Scheme.LEI, "5493001KJTIIGC8Y1R17", "check digits do not match"),
        (Scheme.WEBSITE, "javascript:alert(1)", "http:// or https://"),
        (Scheme.WEBSITE, "ftp://example.org", "http:// or https://"),
        (Scheme.WEBSITE, "https://not a host", "valid URL"),
    ],
)
def test_malformed_identifier_is_refused_with_what_the_scheme_expects(scheme, value, says):
    with pytest.raises(ValidationError) as refused:
        cleaned(scheme, value)
    assert says in " ".join(refused.value.message_dict["value"])


def test_each_scheme_links_to_its_public_page():
    urls = {
        scheme: Identifier(scheme=scheme, value=value).url
        for scheme, value in [
            (Scheme.PEERINGDB_ORG, "4130"),
            (Scheme.PEERINGDB_NET, "4224"),
            (Scheme.PEERINGDB_IX, "31"),
            (Scheme.PEERINGDB_FAC, "58"),
            (Scheme.ASN, "13335"),
            (Scheme.WIKIDATA, "Q42"),
            (Scheme.LEI, "5493001KJTIIGC8Y1R12"),
            (Scheme.WEBSITE, "https://www.de-cix.net/"),
        ]
    }
    assert urls == {
        Scheme.PEERINGDB_ORG: "https://www.peeringdb.com/org/4130",
        Scheme.PEERINGDB_NET: "https://www.peeringdb.com/net/4224",
        Scheme.PEERINGDB_IX: "https://www.peeringdb.com/ix/31",
        Scheme.PEERINGDB_FAC: "https://www.peeringdb.com/fac/58",
        Scheme.ASN: "https://www.peeringdb.com/asn/13335",
        Scheme.WIKIDATA: "https://www.wikidata.org/wiki/Q42",
        Scheme.LEI: "https://search.gleif.org/#/record/5493001KJTIIGC8Y1R12",
        Scheme.WEBSITE: "https://www.de-cix.net/",
    }


# --- the admin inline ---------------------------------------------------------------------------


@pytest.fixture
def assigned(analyst):
    institution = InstitutionFactory(name="DE-CIX Frankfurt", slug="de-cix-frankfurt")
    assign_perm("profiles.change_institution", analyst, institution)
    return institution


def test_assigned_analyst_adds_identifiers_stored_in_their_one_form(client, analyst, assigned):
    data = admin_form_data(login(client, analyst).get(change_url(assigned)))
    add_inline_row(data, PREFIX, scheme=Scheme.ASN, value="AS6695")
    add_inline_row(data, PREFIX, scheme=Scheme.WIKIDATA, value="q1146516")
    response = client.post(change_url(assigned), data)
    assert response.status_code == 302, form_errors(response)
    assert set(assigned.identifiers.values_list("scheme", "value")) == {("asn", "6695"), ("wikidata", "Q1146516")}


def test_duplicate_identifier_in_one_form_is_a_form_error_not_an_integrity_error(client, analyst, assigned):
    data = admin_form_data(login(client, analyst).get(change_url(assigned)))
    add_inline_row(data, PREFIX, scheme=Scheme.ASN, value="AS6695")
    add_inline_row(data, PREFIX, scheme=Scheme.ASN, value="6695")
    response = client.post(change_url(assigned), data)
    assert response.status_code == 200
    assert "Another row of this profile already has this value." in form_errors(response)
    assert not Identifier.objects.exists()


def test_identifier_the_profile_already_has_is_a_form_error(client, analyst, assigned):
    IdentifierFactory(institution=assigned, scheme=Scheme.ASN, value="6695")
    data = admin_form_data(login(client, analyst).get(change_url(assigned)))
    add_inline_row(data, PREFIX, scheme=Scheme.ASN, value="AS6695")
    response = client.post(change_url(assigned), data)
    assert response.status_code == 200
    assert any("already has this" in message for message in form_errors(response))
    assert assigned.identifiers.count() == 1


def test_same_identifier_on_two_profiles_is_allowed(client, analyst, assigned):
    """Uniqueness is per profile: a group and its subsidiary may share a website or an ASN."""
    IdentifierFactory(scheme=Scheme.ASN, value="6695")
    data = admin_form_data(login(client, analyst).get(change_url(assigned)))
    add_inline_row(data, PREFIX, scheme=Scheme.ASN, value="6695")
    assert client.post(change_url(assigned), data).status_code == 302
    assert Identifier.objects.filter(scheme=Scheme.ASN, value="6695").count() == 2


def test_malformed_identifier_is_a_field_error_and_nothing_is_saved(client, analyst, assigned):
    data = admin_form_data(login(client, analyst).get(change_url(assigned)))
    data["dek"] = "A new dek that must not be saved with a bad identifier."
    add_inline_row(data, PREFIX, scheme=Scheme.LEI, value="5493001KJTIIGC8Y1R17")
    response = client.post(change_url(assigned), data)
    assert response.status_code == 200
    assert any("check digits do not match" in message for message in form_errors(response))
    assigned.refresh_from_db()
    assert not assigned.dek.startswith("A new dek") and not Identifier.objects.exists()


def test_analyst_of_another_profile_cannot_add_an_identifier(client, analyst, assigned):
    other = InstitutionFactory(name="Verisign", slug="verisign")
    data = admin_form_data(login(client, analyst).get(change_url(assigned)))
    add_inline_row(data, PREFIX, scheme=Scheme.ASN, value="AS7342")
    assert client.post(change_url(other), data).status_code == 403
    assert not Identifier.objects.exists()


def test_moderator_sees_identifiers_but_gets_no_row_to_add(client, moderator, assigned):
    IdentifierFactory(institution=assigned, scheme=Scheme.ASN, value="6695")
    response = login(client, moderator).get(change_url(assigned))
    assert response.status_code == 200
    [inline] = [i for i in response.context["inline_admin_formsets"] if i.opts.model is Identifier]
    assert not inline.has_add_permission and not inline.has_change_permission
    assert "6695" in response.content.decode()


# --- readers -------------------------------------------------------------------------------------


def test_identifiers_are_links_under_at_a_glance_for_every_reader(client):
    profile = InstitutionFactory()
    IdentifierFactory(institution=profile, scheme=Scheme.ASN, value="13335")
    IdentifierFactory(institution=profile, scheme=Scheme.WIKIDATA, value="Q4778915")
    IdentifierFactory(institution=profile, scheme=Scheme.WEBSITE, value="https://www.cloudflare.com/")
    html = client.get(profile.get_absolute_url()).content.decode()
    glance = html.split('id="at-a-glance"', 1)[1].split("</section>", 1)[0]
    assert '<a href="https://www.peeringdb.com/asn/13335" rel="nofollow noopener">AS13335</a>' in glance
    assert '<a href="https://www.wikidata.org/wiki/Q4778915" rel="nofollow noopener">Q4778915</a>' in glance
    assert '<a href="https://www.cloudflare.com/" rel="nofollow noopener">cloudflare.com</a>' in glance
    # Listed in the order of `Identifier.Scheme`: the website first, then Wikidata, then the ASN.
    assert glance.index("cloudflare.com") < glance.index("Q4778915") < glance.index("AS13335")


def test_profile_without_identifiers_shows_no_identifiers_row(client):
    profile = InstitutionFactory()
    assert "Identifiers</dt>" not in client.get(profile.get_absolute_url()).content.decode()


def test_saving_or_deleting_an_identifier_retires_the_cached_page(client):
    profile = InstitutionFactory()
    url = profile.get_absolute_url()
    assert client.get(url)["X-Page-Cache"] == "miss"
    assert client.get(url)["X-Page-Cache"] == "hit"
    identifier = IdentifierFactory(institution=profile, scheme=Scheme.PEERINGDB_IX, value="31")
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss" and b"https://www.peeringdb.com/ix/31" in response.content
    assert client.get(url)["X-Page-Cache"] == "hit"
    identifier.delete()
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss" and b"https://www.peeringdb.com/ix/31" not in response.content


# --- lookups (for the API's ?asn= and ?wikidata= filters) ---------------------------------------


def test_with_identifier_finds_the_profiles_carrying_it_whatever_its_typed_form():
    cloudflare, other = InstitutionFactory(), InstitutionFactory()
    IdentifierFactory(institution=cloudflare, scheme=Scheme.ASN, value="13335")
    IdentifierFactory(institution=cloudflare, scheme=Scheme.WIKIDATA, value="Q4778915")
    IdentifierFactory(institution=other, scheme=Scheme.PEERINGDB_NET, value="13335")
    assert list(Institution.objects.with_identifier("asn", "AS13335")) == [cloudflare]
    assert list(Institution.objects.with_identifier("asn", "13335")) == [cloudflare]
    assert list(Institution.objects.with_identifier("wikidata", "q4778915")) == [cloudflare]
    assert list(Institution.objects.with_identifier("peeringdb_net", "13335")) == [other]
    assert not Institution.objects.with_identifier("asn", "174").exists()


def test_with_identifier_chains_with_other_reads():
    draft = InstitutionFactory(status=Institution.Status.DRAFT)
    IdentifierFactory(institution=draft, scheme=Scheme.ASN, value="13335")
    assert list(Institution.objects.with_identifier("asn", "13335")) == [draft]
    assert not Institution.objects.published().with_identifier("asn", "13335").exists()


@pytest.mark.parametrize(("scheme", "value"), [("asn", "64512"), ("wikidata", "P31"), ("isbn", "123")])
def test_with_identifier_refuses_a_malformed_value_or_unknown_scheme(scheme, value):
    with pytest.raises(ValidationError):
        Institution.objects.with_identifier(scheme, value)


def test_identifier_without_a_value_gets_one_clear_error():
    with pytest.raises(ValidationError) as refused:
        cleaned(Scheme.ASN, "")
    assert refused.value.message_dict["value"] == ["This field cannot be blank."]


def test_the_database_refuses_a_website_that_is_not_an_http_address_whatever_writes_it():
    profile = InstitutionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Identifier.objects.create(institution=profile, scheme=Identifier.Scheme.WEBSITE, value="javascript:alert(1)")
    assert not Identifier.objects.exists()
