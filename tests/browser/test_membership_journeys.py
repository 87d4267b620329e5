"""Membership journeys in real Chromium: join and verify; apply and be approved by a moderator."""

import re

import pytest
from django.core import mail

from membership.models import Application, Membership, Tier
from tests.browser.journeys import sign_in, submit
from tests.factories import BriefingFactory, InstitutionFactory, tier
from tests.factories_membership import PASSWORD, moderator, strategic_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CIRCLE_BODY = "Circle briefing: rack deliveries are booked through the third quarter."
ALLIANCE_BODY = "Alliance briefing: the option to buy covers two hardware generations."


@pytest.fixture
def profile():
    institution = InstitutionFactory(name="Foxconn and OpenAI AI build-out", slug="foxconn-openai-build-out")
    BriefingFactory(institution=institution, title="Circle context", body=CIRCLE_BODY)
    BriefingFactory(
        institution=institution,
        title="Alliance context",
        body=ALLIANCE_BODY,
        required_tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG),
    )
    return institution


def test_sign_up_verify_and_read_the_strategic_circle_briefing(new_page, profile):
    page = new_page()
    page.goto(profile.get_absolute_url())
    assert CIRCLE_BODY not in page.content()  # locked for a guest

    page.goto("/accounts/signup/")
    page.fill("input[name=email]", "journey.reader@example.org")
    page.fill("input[name=password1]", "a-Long-enough-passphrase-9")
    page.fill("input[name=password2]", "a-Long-enough-passphrase-9")
    page.click("form.form--signup button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")
    assert "Check your inbox" in page.content()

    [message] = [m for m in mail.outbox if "journey.reader@example.org" in m.to]
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body).group(0)
    page.goto(re.sub(r"^https?://[^/]+", "", link))
    submit(page, "main form button[type=submit]")
    assert Membership.objects.filter(
        user__email="journey.reader@example.org", tier__slug=Tier.STRATEGIC_CIRCLE_SLUG, status="active"
    ).exists()

    page.goto(profile.get_absolute_url())
    html = page.content()
    assert CIRCLE_BODY in html
    assert ALLIANCE_BODY not in html and "Only for Leadership Alliance" in html
    assert page.get_by_role("link", name="Apply to Leadership Alliance").count() >= 1


def test_apply_then_a_moderator_approves_in_the_admin(new_page, profile):
    member = strategic_member(email="applicant@example.org")
    reviewer = moderator(email="moderator@example.org")

    reader = new_page()
    sign_in(reader, member.email)
    reader.goto(profile.get_absolute_url())
    assert CIRCLE_BODY in reader.content() and ALLIANCE_BODY not in reader.content()

    reader.goto("/membership/apply/")
    reader.fill("input[name=organisation]", "Lakeside Carrier Hotel")
    reader.fill("input[name=role]", "Managing Director")
    reader.fill("textarea[name=qualification_statement]", "We own a carrier-neutral data centre with 40 networks.")
    reader.check("input[name=consent]")
    reader.click("form.form--application button[type=submit]")
    reader.wait_for_url("**/membership/")
    assert "under review" in reader.content()
    application = Application.objects.get(user=member)

    desk = new_page()
    desk.goto("/admin/")
    desk.wait_for_url("**/accounts/login/?next=%2Fadmin%2F")  # the admin's login is allauth's
    desk.fill("input[name=login]", reviewer.email)
    desk.fill("input[name=password]", PASSWORD)
    desk.click("form.form--login button[type=submit]")
    desk.wait_for_url("**/admin/")

    desk.goto("/admin/membership/application/")
    desk.check(f"input[name=_selected_action][value='{application.pk}']")
    desk.select_option("select[name=action]", "approve_selected")
    desk.click("button[name=index]")
    desk.wait_for_selector("textarea[name=note]")
    desk.fill("textarea[name=note]", "Welcome to the Alliance.")
    desk.click("form.application-decision-form input[type=submit]")
    desk.wait_for_url("**/admin/membership/application/")
    assert "1 application(s) approved" in desk.content()

    application.refresh_from_db()
    assert application.state == Application.State.APPROVED and application.reviewer == reviewer
    assert any(m.to == [member.email] and "approved" in m.body for m in mail.outbox)

    reader.goto(profile.get_absolute_url())
    html = reader.content()
    assert ALLIANCE_BODY in html and CIRCLE_BODY in html
