"""The reader's pages laid out in real Chromium: the relationship map on a phone and a desktop, the
profile's "On this page" navigation, the account pages inside the site layout, "Sign in to follow"."""

import pytest

from profiles.models import Follow, Institution, Relationship
from tests.browser.journeys import sign_in
from tests.factories import InstitutionFactory, RelationshipFactory
from tests.factories_membership import strategic_member
from tests.factories_pages import full_profile

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

#: The SVG's box, the focal circle's and every label's, in CSS pixels of the viewport.
BOXES = """() => {
  const svg = document.querySelector("svg.dependency-map");
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  };
  return {
    viewport: {width: document.documentElement.clientWidth, scrollWidth: document.documentElement.scrollWidth},
    svg: box(svg),
    center: box(svg.querySelector(".map-node--center circle")),
    labels: [...svg.querySelectorAll("text")].map((t) => ({text: t.textContent, ...box(t)})),
  };
}"""


def inside(inner, outer, slack=0.5) -> bool:
    return (
        inner["left"] >= outer["left"] - slack
        and inner["right"] <= outer["right"] + slack
        and inner["top"] >= outer["top"] - slack
        and inner["bottom"] <= outer["bottom"] + slack
    )


@pytest.fixture
def mapped():
    """A profile with long-named ties one and two steps away, in every direction of the drawing."""
    center = InstitutionFactory(name="Transatlantic Interconnection and Colocation Partnership")
    for k in range(6):
        near = InstitutionFactory(name=f"Regional Carrier-Neutral Exchange Operator Number {k}")
        RelationshipFactory(source=center if k % 2 else near, target=near if k % 2 else center,
                            kind=Relationship.Kind.DEPENDS_ON)
        far = InstitutionFactory(name=f"Subsea Cable Landing Station Consortium {k}")
        RelationshipFactory(source=near, target=far, kind=Relationship.Kind.SUPPLIER)
    return center


def open_page(new_page, viewport, url, **context):
    page = new_page()
    page.set_viewport_size(viewport)
    page.goto(url)
    return page


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_map_fits_the_screen_with_every_label_whole(new_page, mapped, viewport):
    page = open_page(new_page, viewport, f"/profiles/{mapped.slug}/map/")
    boxes = page.evaluate(BOXES)
    svg, width = boxes["svg"], boxes["viewport"]["width"]
    assert svg["left"] >= 0 and svg["right"] <= width, f"the map is wider than the screen: {svg} in {width}px"
    assert boxes["viewport"]["scrollWidth"] <= width, "the page scrolls sideways"
    assert inside(boxes["center"], svg), "the profile's own circle is off the drawing"
    assert len(boxes["labels"]) == 13
    for label in boxes["labels"]:
        assert inside(label, svg), f"label cut: {label}"
    names = {label["text"].replace(" ", "") for label in boxes["labels"]}
    assert "Transatlantic Interconnection and Colocation Partnership".replace(" ", "") in names  # whole, no "…"


@pytest.fixture
def long_profile():
    return full_profile(n=6, name="Long Profile Exchange")


def test_on_this_page_stays_reachable_and_marks_the_current_section(new_page, long_profile):
    page = open_page(new_page, DESKTOP, long_profile.get_absolute_url())
    toc = page.locator("nav.toc")
    links = toc.locator("a")
    assert links.count() >= 10
    page.locator("#faq").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('nav.toc a[aria-current=\"true\"]') !== null")
    box = toc.bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= DESKTOP["height"], f"'On this page' is cut off: {box}"
    for k in range(links.count()):  # every entry can be brought into view and used
        link = links.nth(k)
        link.scroll_into_view_if_needed()
        assert link.is_visible()
    toc.locator("a[href='#sources']").click()  # the last section: the page scrolls to its end
    page.wait_for_function(
        "() => document.querySelector('nav.toc a[aria-current=\"true\"]').getAttribute('href') === '#sources'"
    )
    assert toc.locator('a[aria-current="true"]').count() == 1


def test_on_this_page_works_without_javascript(browser, live_server, long_profile):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False, viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(long_profile.get_absolute_url())
        page.locator("nav.toc a[href='#faq']").click()
        assert page.url.endswith("#faq")
        assert page.locator("#faq").is_visible()
        assert page.locator('nav.toc a[aria-current="true"]').count() == 0
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_account_pages_and_their_menu_sit_inside_the_site_layout(new_page, viewport):
    member = strategic_member()
    page = open_page(new_page, viewport, "/accounts/login/?next=/accounts/email/")
    sign_in(page, member.email, open_form=False)
    page.wait_for_url("**/accounts/email/")
    assert page.evaluate("document.querySelector('main').contains(document.querySelector('nav.account-nav'))")
    header = page.locator("header.site-header").bounding_box()
    menu = page.locator("nav.account-nav").bounding_box()
    footer = page.locator("footer.site-footer").bounding_box()
    assert header["y"] + header["height"] <= menu["y"] and menu["y"] + menu["height"] <= footer["y"]
    assert page.locator('nav.account-nav a[aria-current="page"]').inner_text() == "E-mail"
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]


def test_sign_in_to_follow_completes_the_follow(new_page):
    profile = InstitutionFactory(name="Harbour Exchange")
    member = strategic_member()
    page = open_page(new_page, DESKTOP, profile.get_absolute_url())
    page.get_by_role("link", name="Sign in to follow").click()
    page.wait_for_url("**/accounts/login/**")
    sign_in(page, member.email, open_form=False)
    page.wait_for_url(f"**{profile.get_absolute_url()}")
    assert "You now follow Harbour Exchange." in page.content()
    assert page.locator(".follow-control").get_by_text("You follow this profile.").is_visible()
    assert Follow.objects.filter(user=member, institution=profile).exists()
    assert Institution.objects.get(pk=profile.pk).is_published()
