"""factory_boy factories for every model readers and analysts touch."""

import datetime

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.utils import timezone

from membership.models import Application, Membership, Tier
from profiles.models import (
    Briefing,
    EvidenceItem,
    FAQItem,
    Identifier,
    Institution,
    RelatedLink,
    Relationship,
    Sector,
    TimelineEvent,
    Watchpoint,
)


def tier(slug: str) -> Tier:
    """Tiers are seeded by migration; factories look them up, never create them."""
    return Tier.objects.get(slug=slug)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"reader{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-staple")

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        """`verified=True` records a verified primary e-mail address, as allauth would."""
        if create and extracted:
            EmailAddress.objects.update_or_create(
                user=self, email=self.email, defaults={"verified": True, "primary": True}
            )
        if create:
            self.save()


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory, verified=True)
    tier = factory.LazyFunction(lambda: tier(Tier.STRATEGIC_CIRCLE_SLUG))
    status = Membership.Status.ACTIVE
    started_at = factory.LazyFunction(timezone.now)


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    user = factory.SubFactory(UserFactory, verified=True)
    tier = factory.LazyFunction(lambda: tier(Tier.LEADERSHIP_ALLIANCE_SLUG))
    organisation = "Example Networks Ltd"
    role = "Chief Technology Officer"
    qualification_statement = "We own and operate a regional fibre backbone and two carrier-neutral data centres."
    consent = True


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Sector {n}")
    slug = factory.Sequence(lambda n: f"sector-{n}")


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    name = factory.Sequence(lambda n: f"Institution {n}")
    slug = factory.Sequence(lambda n: f"institution-{n}")
    type = Institution.Type.COMPANY
    base_region = Institution.Region.NORTH_AMERICA
    dek = factory.LazyAttribute(lambda o: f"{o.name} operates infrastructure that other networks depend on.")
    what_it_does = "Runs data-centre capacity and network interconnection."
    why_it_matters = "Public-source signals support monitoring for dependency analysis."
    status = Institution.Status.PUBLISHED
    published_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))


class EvidenceItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvidenceItem

    institution = factory.SubFactory(InstitutionFactory)
    url = factory.Sequence(lambda n: f"https://news.example.org/story-{n}")
    publisher = "Example News"
    title = factory.Sequence(lambda n: f"Story {n}")
    source_date = datetime.date(2025, 11, 20)
    claim = "The partnership covers rack, cabling and power systems."
    review_state = EvidenceItem.Review.APPROVED


class RelationshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Relationship

    source = factory.SubFactory(InstitutionFactory)
    target = factory.SubFactory(InstitutionFactory)
    kind = Relationship.Kind.PARTNER
    review_state = Relationship.Review.APPROVED


class WatchpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Watchpoint

    institution = factory.SubFactory(InstitutionFactory)
    text = factory.Sequence(lambda n: f"Watch for disclosure number {n}.")
    order = factory.Sequence(lambda n: n)


class TimelineEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimelineEvent

    institution = factory.SubFactory(InstitutionFactory)
    date = datetime.date(2025, 11, 20)
    title = factory.Sequence(lambda n: f"Event {n}")


class FAQItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FAQItem

    institution = factory.SubFactory(InstitutionFactory)
    question = factory.Sequence(lambda n: f"Question {n}?")
    answer = "An answer."
    order = factory.Sequence(lambda n: n)


class RelatedLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RelatedLink

    institution = factory.SubFactory(InstitutionFactory)
    title = "Further reading"
    url = factory.Sequence(lambda n: f"https://news.example.org/also-{n}")


class BriefingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Briefing

    institution = factory.SubFactory(InstitutionFactory)
    title = "Deeper profile context"
    body = "Member-only analysis."
    source_notes = "Member-only source notes."
    required_tier = factory.LazyFunction(lambda: tier(Tier.STRATEGIC_CIRCLE_SLUG))


class IdentifierFactory(factory.django.DjangoModelFactory):
    """A PeeringDB network id by default (any positive number is well-formed)."""

    class Meta:
        model = Identifier

    institution = factory.SubFactory(InstitutionFactory)
    scheme = Identifier.Scheme.PEERINGDB_NET
    value = factory.Sequence(lambda n: str(n + 1))
