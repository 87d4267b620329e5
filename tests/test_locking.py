"""Optimistic locking of profiles, and the public "last updated" date.

Two analysts open the same profile; the first save wins, the second is shown who saved it and
when, with their own input still in the form, and nothing of theirs (profile or inlines) saved.
"""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone
from guardian.shortcuts import assign_perm

from profiles import services
from profiles.models import FAQItem, HistoricalInstitution, Institution, TimelineEvent

from .factories import EvidenceItemFactory, InstitutionFactory, StaffFactory
from .test_admin import add_inline_row, admin_form_data, change_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_analyst(staff_factory):
    return staff_factory("Analysts", first_name="Amira", last_name="Haddad")


@pytest.fixture
def second_analyst(staff_factory):
    return staff_factory("Analysts", first_name="Tomasz", last_name="Nowak")


@pytest.fixture
def profile(first_analyst, second_analyst):
    institution = InstitutionFactory(
        name="Foxconn–OpenAI AI infrastructure partnership",
        slug="foxconn-openai-ai-infrastructure",
        dek="Foxconn builds AI data-centre hardware in the US with OpenAI's input.",
    )
    for analyst in (first_analyst, second_analyst):
        assign_perm("profiles.change_institution", analyst, institution)
    return institution


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def stale_message(response) -> str:
    return " ".join(response.context["adminform"].form.non_field_errors())


# --- two real admin submissions -----------------------------------------------------------------


def test_second_of_two_concurrent_admin_edits_is_refused(profile, first_analyst, second_analyst):
    first, second = client_for(first_analyst), client_for(second_analyst)
    url = change_url(profile)
    first_data = admin_form_data(first.get(url))
    second_data = admin_form_data(second.get(url))
    history_before = HistoricalInstitution.objects.filter(id=profile.pk).count()

    first_data["dek"] = "Foxconn will build racks, cabling and power systems in Ohio, Texas and Wisconsin."
    assert first.post(url, first_data).status_code == 302

    second_data["name"] = "Foxconn and OpenAI hardware programme"
    add_inline_row(second_data, "faqs", order="1", question="Is there a purchase commitment?", answer="No.")
    response = second.post(url, second_data)

    assert response.status_code == 200
    message = stale_message(response)
    assert "Amira Haddad saved this profile on" in message
    assert timezone.localtime(Institution.objects.get(pk=profile.pk).updated_at).strftime("%H:%M") in message
    html = response.content.decode()
    assert 'value="Foxconn and OpenAI hardware programme"' in html  # nothing typed is lost
    assert "Is there a purchase commitment?" in html

    profile.refresh_from_db()
    assert profile.dek.startswith("Foxconn will build racks")  # the first edit stays
    assert profile.name == "Foxconn–OpenAI AI infrastructure partnership"  # the second is not saved
    assert profile.version == 2  # bumped once
    assert profile.last_edited_by == first_analyst
    assert not FAQItem.objects.filter(institution=profile).exists()  # nor its inline rows
    assert HistoricalInstitution.objects.filter(id=profile.pk).count() == history_before + 1


def test_saving_again_after_reading_the_conflict_goes_through(profile, first_analyst, second_analyst):
    first, second = client_for(first_analyst), client_for(second_analyst)
    url = change_url(profile)
    first_data, second_data = admin_form_data(first.get(url)), admin_form_data(second.get(url))
    first_data["headline"] = "Foxconn and OpenAI agree to co-design AI data-centre racks."
    first.post(url, first_data)
    second_data["name"] = "Foxconn and OpenAI hardware programme"
    refused = second.post(url, second_data)
    assert refused.status_code == 200

    again = admin_form_data(refused)
    assert again["loaded_version"] == "2"
    assert again["name"] == "Foxconn and OpenAI hardware programme"
    assert second.post(url, again).status_code == 302
    profile.refresh_from_db()
    assert (profile.name, profile.version, profile.last_edited_by) == (
        "Foxconn and OpenAI hardware programme", 3, second_analyst
    )


def test_a_save_that_loses_the_race_after_clean_rolls_everything_back(
    profile, first_analyst, second_analyst, monkeypatch
):
    """clean() saw the old version, but another save landed before our UPDATE: the guarded
    UPDATE refuses, the atomic change view rolls back profile and inlines, and the form returns."""
    first, second = client_for(first_analyst), client_for(second_analyst)
    url = change_url(profile)
    first_data, second_data = admin_form_data(first.get(url)), admin_form_data(second.get(url))
    first_data["dek"] = "The first analyst's dek."
    assert first.post(url, first_data).status_code == 302

    monkeypatch.setattr("profiles.forms.find_stale_edit", lambda **kwargs: None)  # clean() misses it
    second_data["name"] = "Name from the losing save"
    add_inline_row(second_data, "faqs", order="3", question="Lost question?", answer="Never saved.")
    response = second.post(url, second_data)

    assert response.status_code == 200
    assert "Amira Haddad saved this profile" in stale_message(response)
    profile.refresh_from_db()
    assert profile.name == "Foxconn–OpenAI AI infrastructure partnership"
    assert profile.dek == "The first analyst's dek."
    assert profile.version == 2
    assert not FAQItem.objects.filter(institution=profile).exists()


def test_a_form_without_its_version_is_refused(client, profile, first_analyst):
    client.force_login(first_analyst)
    data = admin_form_data(client.get(change_url(profile)))
    del data["loaded_version"]
    data["name"] = "Blind overwrite"
    response = client.post(change_url(profile), data)
    assert response.status_code == 200
    assert "version marker" in stale_message(response)
    profile.refresh_from_db()
    assert profile.name != "Blind overwrite"


# --- the service ----------------------------------------------------------------------------------


def test_save_institution_bumps_version_and_records_editor(profile, first_analyst):
    profile.dek = "New dek."
    services.save_institution(institution=profile, user=first_analyst, form_version=1)
    profile.refresh_from_db()
    assert (profile.version, profile.last_edited_by, profile.dek) == (2, first_analyst, "New dek.")


def test_save_institution_with_a_stale_version_raises_and_names_the_editor(profile, first_analyst, second_analyst):
    winner = Institution.objects.get(pk=profile.pk)
    winner.dek = "Winner's dek."
    services.save_institution(institution=winner, user=first_analyst, form_version=1)
    loser = Institution.objects.get(pk=profile.pk)
    loser.dek = "Loser's dek."
    with pytest.raises(services.StaleEdit) as raised:
        services.save_institution(institution=loser, user=second_analyst, form_version=1)
    assert raised.value.edited_by == first_analyst
    assert raised.value.current_version == 2
    assert "Amira Haddad saved this profile on" in str(raised.value)
    profile.refresh_from_db()
    assert (profile.dek, profile.version) == ("Winner's dek.", 2)


def test_editing_a_profile_needs_its_form_version(profile, first_analyst):
    with pytest.raises(TypeError):
        services.save_institution(institution=profile, user=first_analyst)


def test_creating_a_profile_assigns_its_creator(staff_factory):
    analyst = staff_factory("Analysts")
    created = services.save_institution(
        institution=Institution(name="IETF", slug="ietf", dek="Where internet protocols are standardised."),
        user=analyst,
    )
    assert (created.version, created.last_edited_by) == (1, analyst)
    assert analyst.has_perm("profiles.change_institution", created)
    assert created.public_updated_at is None  # a draft


def _restore_reference_data():
    """Re-create what data migrations seed (permissions, tiers, groups, site), which a transactional
    test's closing flush removes; the tests that run after it rely on them."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    importlib.import_module("membership.migrations.0002_seed_tiers").seed_tiers(apps, None)
    importlib.import_module("profiles.migrations.0003_site").name_site(apps, None)
    for name, perms in importlib.import_module("profiles.migrations.0002_groups").GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *[Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in perms]
        )


@pytest.fixture(scope="module")  # module scope: torn down after the test's closing flush, not before it
def _reference_data_restored(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        _restore_reference_data()  # an earlier transactional test may have flushed it
    yield
    with django_db_blocker.unblock():
        _restore_reference_data()


@pytest.mark.postgres
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="Row locks need PostgreSQL: SQLite serialises whole-database writes"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_on_postgres_let_exactly_one_win(_reference_data_restored):
    institution = InstitutionFactory()
    editors = [StaffFactory() for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def save(editor, dek):
        try:
            copy = Institution.objects.get(pk=institution.pk)
            copy.dek = dek
            barrier.wait(timeout=10)
            services.save_institution(institution=copy, user=editor, form_version=1)
            outcomes.append("saved")
        except services.StaleEdit:
            outcomes.append("stale")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(e, f"dek {n}")) for n, e in enumerate(editors)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["saved", "stale"]
    institution.refresh_from_db()
    assert institution.version == 2


# --- public_updated_at: moves only when readers can see a change ----------------------------------


def _save(institution, user, **changes):
    fresh = Institution.objects.get(pk=institution.pk)
    for field, value in changes.items():
        setattr(fresh, field, value)
    return services.save_institution(institution=fresh, user=user, form_version=fresh.version)


def test_editing_a_draft_does_not_move_the_public_date(first_analyst):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    _save(draft, first_analyst, dek="Still drafting.", why_it_matters="Not yet public.")
    draft.refresh_from_db()
    assert draft.public_updated_at is None


def test_publishing_sets_the_public_date(first_analyst):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    EvidenceItemFactory(institution=draft)  # approved and public: the publication guard passes
    before = timezone.now()
    _save(draft, first_analyst, status=Institution.Status.PUBLISHED)
    draft.refresh_from_db()
    assert draft.published_at >= before
    assert draft.public_updated_at >= before


def test_scheduling_sets_the_public_date_to_the_publication_time(first_analyst):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    EvidenceItemFactory(institution=draft)  # approved and public: the publication guard passes
    when = timezone.now() + datetime.timedelta(days=14)
    _save(draft, first_analyst, status=Institution.Status.PUBLISHED, published_at=when)
    draft.refresh_from_db()
    assert draft.public_updated_at == when
    assert not TimelineEvent.objects.filter(institution=draft).exists()


def test_editing_what_readers_see_moves_the_public_date(profile, first_analyst):
    old = Institution.objects.get(pk=profile.pk).public_updated_at
    _save(profile, first_analyst, why_it_matters="US-built racks shorten OpenAI's hardware supply chain.")
    profile.refresh_from_db()
    assert profile.public_updated_at > old
    entry = TimelineEvent.objects.get(institution=profile, kind=TimelineEvent.Kind.PROFILE_UPDATE)
    assert "why it matters" in entry.text


@pytest.mark.parametrize("field", services.READER_VISIBLE_FIELDS)
def test_every_reader_visible_field_moves_the_public_date(profile, first_analyst, field):
    choices = Institution._meta.get_field(field).choices
    current = getattr(Institution.objects.get(pk=profile.pk), field)
    value = next(v for v, _ in choices if v != current) if choices else f"{current} (revised)"
    old = Institution.objects.get(pk=profile.pk).public_updated_at
    _save(profile, first_analyst, **{field: value})
    profile.refresh_from_db()
    assert profile.public_updated_at > old


def test_editing_bookkeeping_leaves_the_public_date_alone(profile, first_analyst):
    old = Institution.objects.get(pk=profile.pk).public_updated_at
    _save(profile, first_analyst, slug="foxconn-openai-partnership")
    _save(profile, first_analyst)  # a save with no change at all
    profile.refresh_from_db()
    assert profile.public_updated_at == old
    assert profile.version == 3


def test_archiving_leaves_the_public_date_alone(profile, first_analyst):
    old = Institution.objects.get(pk=profile.pk).public_updated_at
    _save(profile, first_analyst, status=Institution.Status.ARCHIVED, dek="Archived text.")
    profile.refresh_from_db()
    assert profile.public_updated_at == old


def test_unchanged_admin_save_leaves_the_public_date_alone(client, profile, first_analyst):
    """The admin posts times to the second; that round trip is not a reschedule."""
    Institution.objects.filter(pk=profile.pk).update(
        published_at=timezone.now() - datetime.timedelta(days=3, microseconds=123_456)
    )
    old = Institution.objects.get(pk=profile.pk).public_updated_at
    client.force_login(first_analyst)
    data = admin_form_data(client.get(change_url(profile)))
    assert client.post(change_url(profile), data).status_code == 302
    profile.refresh_from_db()
    assert profile.public_updated_at == old
    assert profile.version == 2


def test_admin_edit_of_a_draft_keeps_it_out_of_the_public_dates(client, first_analyst):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    assign_perm("profiles.change_institution", first_analyst, draft)
    client.force_login(first_analyst)
    data = admin_form_data(client.get(change_url(draft)))
    data["body"] = "A first paragraph."
    assert client.post(change_url(draft), data).status_code == 302
    draft.refresh_from_db()
    assert draft.public_updated_at is None


def test_admin_publish_with_empty_time_publishes_now(client, first_analyst):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    EvidenceItemFactory(institution=draft)  # approved and public: the publication guard passes
    assign_perm("profiles.change_institution", first_analyst, draft)
    client.force_login(first_analyst)
    data = admin_form_data(client.get(change_url(draft)))
    data["status"] = "published"
    response = client.post(change_url(draft), data)
    assert response.status_code == 302, response.context and response.context["errors"]
    draft.refresh_from_db()
    assert draft.is_published() and draft.public_updated_at is not None


def test_touch_public_ignores_drafts(first_analyst):
    draft = InstitutionFactory(status=Institution.Status.DRAFT, published_at=None)
    assert services.touch_public(draft) is False
    draft.refresh_from_db()
    assert draft.public_updated_at is None
