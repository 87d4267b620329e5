"""Identifiers that join a profile to other datasets: PeeringDB records, ASNs, Wikidata, LEI and the
official website. They are public facts (no tier, no review): shown under "At a glance" as links,
emitted in the JSON-LD as `sameAs` / `identifier`, and looked up by `Institution.objects.with_identifier`."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from simple_history.models import HistoricalRecords

from ..validators import normalise_identifier
from .institution import Institution


class Identifier(models.Model):
    class Scheme(models.TextChoices):
        # Declared in the order the profile page lists them.
        WEBSITE = "website", "Official website"
        WIKIDATA = "wikidata", "Wikidata"
        LEI = "lei", "LEI"
        ASN = "asn", "ASN"
        PEERINGDB_ORG = "peeringdb_org", "PeeringDB organisation"
        PEERINGDB_NET = "peeringdb_net", "PeeringDB network"
        PEERINGDB_IX = "peeringdb_ix", "PeeringDB exchange"
        PEERINGDB_FAC = "peeringdb_fac", "PeeringDB facility"

    #: Each scheme's public page for a value (the website is its own address).
    URL_TEMPLATES = {
        Scheme.WEBSITE: "{value}",
        Scheme.WIKIDATA: "https://www.wikidata.org/wiki/{value}",
        Scheme.LEI: "https://search.gleif.org/#/record/{value}",
        Scheme.ASN: "https://www.peeringdb.com/asn/{value}",
        Scheme.PEERINGDB_ORG: "https://www.peeringdb.com/org/{value}",
        Scheme.PEERINGDB_NET: "https://www.peeringdb.com/net/{value}",
        Scheme.PEERINGDB_IX: "https://www.peeringdb.com/ix/{value}",
        Scheme.PEERINGDB_FAC: "https://www.peeringdb.com/fac/{value}",
    }

    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="identifiers")
    scheme = models.CharField(max_length=16, choices=Scheme.choices)
    value = models.CharField(
        max_length=1000,
        help_text="Public, shown to every reader as a link: a PeeringDB record number, an AS number (13335 or "
        "AS13335), a Wikidata id (Q…), a 20-character LEI, or the official website (https://…).",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["scheme", "value", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["institution", "scheme", "value"],
                name="identifier_unique_per_profile",
                violation_error_message="This profile already has this identifier.",
            ),
            # Every value is checked by `clean()`; the database still refuses a website that is not an
            # http(s) address, whatever wrote it (a shell, a bulk write): it becomes a link on the page.
            models.CheckConstraint(
                condition=~Q(scheme="website") | Q(value__startswith="http://") | Q(value__startswith="https://"),
                name="identifier_website_is_http",
                violation_error_message="A website is an http(s) address.",
            ),
        ]

    def __str__(self):
        return f"{self.get_scheme_display()}: {self.display_value}"

    def get_absolute_url(self):
        return self.institution.get_absolute_url() + "#at-a-glance"

    def clean(self):
        """Stores the value in its scheme's one form (so "AS13335" and "13335" are one ASN) after
        checking its format; the uniqueness check that follows compares the stored forms."""
        super().clean()
        if not self.scheme or not self.value:  # a missing field has its own "required" error
            return
        try:
            self.value = normalise_identifier(self.scheme, self.value)
        except ValidationError as error:
            raise ValidationError({"value": error.error_list}) from None

    @property
    def url(self) -> str:
        """The value's public page (PeeringDB, Wikidata, GLEIF), or the website itself."""
        return self.URL_TEMPLATES[self.scheme].format(value=self.value)

    @property
    def display_value(self) -> str:
        if self.scheme == self.Scheme.ASN:
            return f"AS{self.value}"
        if self.scheme == self.Scheme.WEBSITE:
            return self.value.split("://", 1)[-1].removeprefix("www.").rstrip("/")
        return self.value

    @property
    def display_order(self) -> tuple[int, str]:
        """Where the profile page lists it: by scheme in `Scheme`'s order, then by value."""
        return list(self.Scheme).index(self.scheme), self.value
