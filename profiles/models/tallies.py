"""`ListingTally`: how many listed profiles share each combination of the directory's facets.

Derived data, never edited: `profiles.tallies` keeps it equal to what counting the profiles would
give, in the transaction of every change that moves a profile between combinations.
"""

from django.db import models

from .institution import Institution, Sector


class ListingTally(models.Model):
    """Listed profiles (published, or scheduled to be) of one facet combination: one row with no
    sector counts each profile once; one row per sector counts the combination's profiles in it.

    The field names are the profile's own, so a directory filter applies to these rows unchanged.
    """

    type = models.CharField(max_length=32, choices=Institution.Type.choices)
    base_region = models.CharField(max_length=20, choices=Institution.Region.choices)
    criticality = models.CharField(max_length=10, choices=Institution.Criticality.choices)
    time_horizon = models.CharField(max_length=16, choices=Institution.Horizon.choices)
    sector = models.ForeignKey(Sector, null=True, on_delete=models.CASCADE, related_name="+")
    profiles = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["type", "base_region", "criticality", "time_horizon"], name="tally_combo_idx")]

    def __str__(self):
        combination = "/".join((self.type, self.base_region, self.criticality, self.time_horizon))
        return f"{combination}, sector {self.sector_id or 'any'}: {self.profiles}"
