"""Readers in every membership state, built from tests/factories.py (which stays untouched)."""

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group

from membership.models import Application, Membership, Tier

from .factories import ApplicationFactory, MembershipFactory, StaffFactory, UserFactory, tier

PASSWORD = "correct-horse-battery-staple"  # UserFactory's password


class EmailAddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailAddress

    user = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda o: o.user.email)
    verified = False
    primary = True


def unverified_user(**kwargs):
    """Signed up, e-mail not confirmed: no membership yet."""
    user = UserFactory(**kwargs)
    EmailAddressFactory(user=user, verified=False)
    return user


def strategic_member(**kwargs):
    user = UserFactory(verified=True, **kwargs)
    MembershipFactory(user=user, tier=tier(Tier.STRATEGIC_CIRCLE_SLUG), status=Membership.Status.ACTIVE)
    return user


def alliance_member(**kwargs):
    user = strategic_member(**kwargs)
    MembershipFactory(user=user, tier=tier(Tier.LEADERSHIP_ALLIANCE_SLUG), status=Membership.Status.ACTIVE)
    return user


def lapsed_member(**kwargs):
    """Was in the Leadership Alliance; that membership has lapsed (Strategic Circle still active)."""
    from membership import services

    user = alliance_member(**kwargs)
    services.lapse_membership(membership=Membership.objects.get(user=user, tier__slug=Tier.LEADERSHIP_ALLIANCE_SLUG))
    return user


def pending_applicant(**kwargs) -> Application:
    """A Strategic Circle member whose Leadership Alliance application is under review."""
    return ApplicationFactory(user=strategic_member(**kwargs))


def moderator(**kwargs):
    """Staff in the Moderators group (holds membership.review_application), with a verified e-mail."""
    user = StaffFactory(verified=True, **kwargs)
    user.groups.add(Group.objects.get(name="Moderators"))
    return user


def analyst(**kwargs):
    """Staff in the Analysts group: admin access, but no right to review applications."""
    user = StaffFactory(verified=True, **kwargs)
    user.groups.add(Group.objects.get(name="Analysts"))
    return user


def activate_totp(user):
    """Enrol a TOTP authenticator as allauth.mfa would after the user scanned the QR code."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


def ensure_reference_data():
    """Re-create what the data migrations seed (tiers, the newsroom's groups, the site's name), should a
    transactional test's flush have removed it. Idempotent; browser and concurrency tests call it."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Permission

    for app_config in apps.get_app_configs():  # a flush with post_migrate inhibited leaves none
        create_permissions(app_config, verbosity=0)
    importlib.import_module("membership.migrations.0002_seed_tiers").seed_tiers(apps, None)
    importlib.import_module("profiles.migrations.0003_site").name_site(apps, None)
    groups = importlib.import_module("profiles.migrations.0002_groups")
    for name, perms in groups.GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *[Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in perms]
        )
    importlib.import_module("profiles.migrations.0012_audit_log_readers").grant(apps, None)
    importlib.import_module("profiles.migrations.0017_identifiers").grant(apps, None)
