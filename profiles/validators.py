"""Field validators shared by the profile models."""

import datetime
import re

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


# Identifiers that join other datasets (profiles.models.Identifier): each scheme's format, and the
# one form its value is stored in, so "AS13335" and "13335" are the same ASN everywhere.

#: Autonomous system numbers no institution is assigned: reserved (RFC 7607, 6793, 7300), for
#: documentation (RFC 5398) or private use (RFC 6996).
UNASSIGNABLE_ASNS = (
    (0, 0, "reserved"),
    (23456, 23456, "reserved for AS_TRANS"),
    (64496, 64511, "reserved for documentation"),
    (64512, 65534, "for private use"),
    (65535, 65535, "reserved"),
    (65536, 65551, "reserved for documentation"),
    (4200000000, 4294967294, "for private use"),
    (4294967295, 4294967295, "reserved"),
)
MAX_ASN = 4294967295
_DIGITS = re.compile(r"[0-9]+")
_ASN = re.compile(r"(?:AS)?([0-9]+)", re.IGNORECASE)
_WIKIDATA_QID = re.compile(r"Q[1-9][0-9]*")
_LEI = re.compile(r"[A-Z0-9]{18}[0-9]{2}")


def _positive_integer(value: str) -> str:
    if not _DIGITS.fullmatch(value) or int(value) == 0 or len(value.lstrip("0")) > 10:
        raise ValidationError("Enter the record's number as shown on PeeringDB (a positive whole number).",
                              code="invalid_peeringdb_id")
    return str(int(value))


def _asn(value: str) -> str:
    match = _ASN.fullmatch(value)
    if not match or len(match[1]) > 10 or int(match[1]) > MAX_ASN:
        raise ValidationError("Enter an AS number from 1 to 4294967295, like 13335 or AS13335.", code="invalid_asn")
    number = int(match[1])
    for first, last, reason in UNASSIGNABLE_ASNS:
        if first <= number <= last:
            raise ValidationError("AS%(asn)s is %(reason)s, never an institution's.", params={"asn": number,
                                  "reason": reason}, code="unassignable_asn")
    return str(number)


def _wikidata(value: str) -> str:
    value = value.upper()
    if not _WIKIDATA_QID.fullmatch(value):
        raise ValidationError("Enter a Wikidata item id: Q followed by its number, like Q42.", code="invalid_qid")
    return value


def lei_check_digits_valid(lei: str) -> bool:
    """ISO 17442 check digits (ISO 7064 MOD 97-10): letters read as 10–35, the number mod 97 is 1."""
    return int("".join(str(int(char, 36)) for char in lei)) % 97 == 1


def _lei(value: str) -> str:
    value = value.upper()
    if not _LEI.fullmatch(value):
        raise ValidationError("Enter a Legal Entity Identifier: 20 letters and digits, the last two digits.",
                              code="invalid_lei")
    if not lei_check_digits_valid(value):
        raise ValidationError("This LEI's check digits do not match: check it on search.gleif.org.",
                              code="lei_check_digits")
    return value


def _website(value: str) -> str:
    validate_http_url(value)
    validate_url_syntax(value)
    return value


_IDENTIFIER_FORMATS = {
    "peeringdb_org": _positive_integer,
    "peeringdb_net": _positive_integer,
    "peeringdb_ix": _positive_integer,
    "peeringdb_fac": _positive_integer,
    "asn": _asn,
    "wikidata": _wikidata,
    "lei": _lei,
    "website": _website,
}


def normalise_identifier(scheme: str, value: str) -> str:
    """`value` as stored for `scheme` (surrounding spaces dropped, ASNs as digits, QIDs and LEIs
    upper-case), or a ValidationError that says what the scheme expects."""
    try:
        normalise = _IDENTIFIER_FORMATS[scheme]
    except KeyError:
        raise ValidationError("Unknown identifier scheme “%(scheme)s”.", params={"scheme": scheme},
                              code="unknown_scheme") from None
    return normalise((value or "").strip())
