"""Re-check approved sources once: fetch those due, politely, and move each to ok, moved, changed or gone.

Run it from cron or a systemd timer (or let the periodic job `check_sources_job` do it); each source is
due every `BTW_SOURCE_CHECK_DAYS`, and a run fetches at most `BTW_SOURCE_CHECK_BUDGET` of them, one
request at a time per host, `BTW_SOURCE_CHECK_CONCURRENCY` hosts at once. Two runs at once fetch
different sources. Prints one summary line.
"""

import re

from django.core.management.base import BaseCommand, CommandError

from profiles.sources.recheck import check_sources

HOST_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$|^\[?[0-9a-f:.]+\]?$")


def at_least_one(name: str, value: str | None) -> int | None:
    """A count option's value (checked here, not by argparse, so a bad one is a one-line CommandError)."""
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise CommandError(f"--{name} takes a whole number, not {value!r}.") from None
    if number < 1:
        raise CommandError(f"--{name} must be at least 1, not {number}.")
    return number


class Command(BaseCommand):
    help = "Re-check the approved sources that are due (one run; prints a summary line)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--budget", default=None,
            help="At most this many sources in this run (default: BTW_SOURCE_CHECK_BUDGET).",
        )
        parser.add_argument(
            "--concurrency", default=None,
            help="Hosts fetched at once, one request at a time each (default: BTW_SOURCE_CHECK_CONCURRENCY).",
        )
        parser.add_argument("--host", default=None, help="Only the sources on this host, e.g. news.example.org.")

    def handle(self, *args, budget=None, concurrency=None, host=None, **options):
        budget, concurrency = at_least_one("budget", budget), at_least_one("concurrency", concurrency)
        if host is not None:
            host = host.strip().lower()
            if not HOST_NAME.match(host):
                raise CommandError(f"--host takes a host name such as news.example.org, not {host!r}.")
        report = check_sources(budget=budget, concurrency=concurrency, host=host)
        self.stdout.write(report.summary())
        if report.errors:
            raise CommandError(f"{report.errors} check(s) could not be stored; they are due again after the lease.")
