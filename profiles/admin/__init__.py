"""The editing side of BTW Profiles: the Django admin, one module per part.

- `scope.py`       which profiles a staff member works on here; per-request permission answers
- `base.py`        what every profile admin shares: read-only history, scale, citation warnings
- `inlines.py`     every section of the profile page, inline on the profile's form
- `institution.py` the profile (optimistic lock, publication guard) and sectors
- `children.py`    each child of a profile on its own page, within the staff member's profiles
- `reviewed.py`    evidence and relationships: review buttons, review record, authors, diff
- `decisions.py`   approve / reject / retract, object by object through `profiles.review`
- `queue.py`       the moderation queue (its own admin, on proxy models)
- `freshness.py`   the re-verification queue (profiles nobody confirmed lately, on a proxy model)
- `sources.py`     what the source checks found, read-only on an evidence item's page
- `source_alerts.py` sources to re-verify: changed, moved or gone since verified, with the text diff
- `grants.py`      guardian's object-permissions pages, held to `profiles.grants`

Who may do what (groups are data, see migration 0002): analysts add profiles and change those
assigned to them; lead analysts change every profile; moderators read profiles and decide their
evidence and relationships, never their text. Edit history (simple-history) is read-only: a revert
would skip both the optimistic lock and review.

Importing this package names the admin site and registers every admin (Django's autodiscover imports it).
"""

from django.contrib import admin

from . import (  # noqa: F401  (each registers its admins)
    bulk,
    children,
    decision_log,
    freshness,
    institution,
    queue,
    reviewed,
    source_alerts,
)

#: The admin is the newsroom's desk, not "Django administration": one name in its header, its
#: browser titles and its index (templates/admin/base_site.html greets the staff member by name).
SITE_NAME = "BTW Profiles"
admin.site.site_header = admin.site.site_title = admin.site.index_title = SITE_NAME
