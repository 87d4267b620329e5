"""Field validators shared by the profile models."""

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator, URLValidator
from django.utils import timezone

HTTP_URL_REGEX = r"^https?://"

#: Only plain web links: the scheme must be lower-case http or https (the DB checks the same).
validate_http_url = RegexValidator(
    HTTP_URL_REGEX,
    message="Enter a web address starting with http:// or https://.",
    code="invalid_scheme",
)
validate_url_syntax = URLValidator(schemes=["http", "https"])

#: How far ahead a timeline event may be dated (scheduled announcements, not typos).
TIMELINE_MAX_DAYS_AHEAD = 366


def validate_not_far_future(value: datetime.date):
    limit = timezone.localdate() + datetime.timedelta(days=TIMELINE_MAX_DAYS_AHEAD)
    if value and value > limit:
        raise ValidationError(
            "This date is more than a year ahead; timeline events record what happened or is announced.",
            code="far_future",
        )
