"""What the membership layer knows of staff's second factor: enrolled, and passed in this session.

Both read allauth.mfa's own records; nothing here writes them. The rule that uses them (staff read
everything only in a session that has passed MFA) is `membership.readers.has_staff_sight`.
"""

from __future__ import annotations

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator


def has_mfa(user) -> bool:
    """An authenticator that proves a second factor (recovery codes alone do not count)."""
    return Authenticator.objects.filter(user=user).exclude(type=Authenticator.Type.RECOVERY_CODES).exists()


def session_passed_mfa(request) -> bool:
    """Whether the session of `request` has passed a second factor, for the user signed in by it.

    allauth keeps a list of the authentication steps taken in a session (for the user it names) and
    appends ``{"method": "mfa", ...}`` when it accepts a code: at sign-in (``mfa_authenticate``) and on
    reauthentication (``mfa_reauthenticate``). Activating TOTP appends nothing, so a staff member who
    enrols after signing in passes MFA by entering a code once more. Signing out ends the session and
    its list. Reads the session only, which is loaded with the user anyway: no query.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "session", None) is None:
        return False
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, user))
