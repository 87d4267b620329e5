"""axe-core in the browser tests: `assert_no_serious_violations(page)` fails with a readable list of every
serious or critical violation on the page as it stands.

axe-core comes from the axe-playwright-python package (it bundles axe.min.js): nothing is loaded from a
CDN, and the script is evaluated through Playwright, so the site's Content-Security-Policy stays as it is.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

#: Impacts that fail a test; "minor" and "moderate" findings are for review, not for the build.
FAILING_IMPACTS = frozenset({"serious", "critical"})

_axe = Axe()


def serious_violations(page, *, context=None) -> list[dict]:
    """The serious or critical violations axe-core finds on the page (WCAG 2.x A/AA and best practices)."""
    results = _axe.run(page, context=context, options={"resultTypes": ["violations"]})
    return [v for v in results.response["violations"] if v.get("impact") in FAILING_IMPACTS]


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"{violation['impact']}: {violation['id']} — {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:5]:
            summary = node.get("failureSummary", "").splitlines()[-1:]
            lines.append(f"    {', '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


def assert_no_serious_violations(page, *, context=None) -> None:
    violations = serious_violations(page, context=context)
    assert not violations, f"axe-core on {page.url}:\n{describe(violations)}"
