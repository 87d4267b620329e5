"""A real Varnish (Debian's `varnish` and `varnish-modules`, for vmod xkey) in front of the app, purged by
surrogate key: an edit shows through Varnish within a second, and pages that do not show it stay cached.

Varnish runs tests/varnish/purge.vcl in front of pytest-django's live server, which shares this process's
test database and settings — purge configured (`BTW_CDN_PURGE=varnish` pointing at this Varnish) — so
the edit made here, through the service the admin's change form calls, sends its purge from the process
that commits it, as a deployment's app server does. Skipped with the reason when `varnishd` is missing;
a failure under CI, which installs it.
"""

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from profiles import services

from .factories import InstitutionFactory, StaffFactory
from .test_scale_out import _free_port, missing_service

VCL = Path(__file__).resolve().parent / "varnish" / "purge.vcl"
VISIBLE_WITHIN = 1.0  # seconds from the editor's commit to the new page through Varnish


class Varnish:
    """`varnishd -F` on a free loopback port, its work directory and VCL in `workdir`."""

    def __init__(self, binary: str, workdir: Path, backend_port: int):
        self.port = _free_port()
        vcl = workdir / "purge.vcl"
        vcl.write_text(VCL.read_text().replace("BACKEND_PORT", str(backend_port)))
        self.log = (workdir / "varnishd.log").open("wb")
        self.proc = subprocess.Popen(
            [binary, "-F", "-j", "none", "-n", str(workdir / "n"), "-a", f"127.0.0.1:{self.port}",
             "-T", "127.0.0.1:0", "-f", str(vcl), "-s", "malloc,32m"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"varnishd did not start: {(workdir / 'varnishd.log').read_text()[-2000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str):
        """(body, X-Varnish ids, X-Cache) of an anonymous GET through Varnish."""
        with urllib.request.urlopen(self.url(path), timeout=5) as response:
            return response.read().decode(), response.headers["X-Varnish"].split(), response.headers["X-Cache"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture
def varnish(live_server, settings, tmp_path):
    binary = shutil.which("varnishd") or shutil.which("varnishd", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        missing_service("Varnish is not installed (apt-get install varnish varnish-modules)")
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    front = Varnish(binary, tmp_path, backend_port=int(live_server.url.rsplit(":", 1)[1]))
    settings.BTW_CDN_PURGE = "varnish"
    settings.BTW_CDN_PURGE_URLS = [front.url("/")]
    settings.BTW_CDN_PURGE_TIMEOUT = 2.0
    yield front
    front.stop()


def is_hit(ids) -> bool:
    """X-Varnish names this request and, on a hit, the request that stored the object."""
    return len(ids) == 2


def test_an_edit_shows_through_varnish_within_a_second_and_other_pages_stay_cached(varnish):
    a = InstitutionFactory(name="Alpha Exchange", dek="Alpha before the edit.")
    b = InstitutionFactory(name="Beta Exchange", dek="Beta, never edited.")
    for profile in (a, b):
        body, ids, state = varnish.get(profile.get_absolute_url())
        assert not is_hit(ids) and state == "MISS"
        again, ids, state = varnish.get(profile.get_absolute_url())
        assert is_hit(ids) and state == "HIT" and again == body
    assert "Alpha before the edit." in varnish.get(a.get_absolute_url())[0]

    a.dek = "Alpha after the edit."
    services.save_institution(institution=a, user=StaffFactory(), form_version=a.version)
    committed = time.monotonic()
    while True:
        body, ids, _ = varnish.get(a.get_absolute_url())
        if "Alpha after the edit." in body or time.monotonic() - committed > VISIBLE_WITHIN:
            break
        time.sleep(0.05)
    assert "Alpha after the edit." in body, f"not visible through Varnish {VISIBLE_WITHIN} s after the commit"
    assert not is_hit(ids)  # fetched anew from the app, which has retired its own copy too

    body, ids, state = varnish.get(b.get_absolute_url())
    assert is_hit(ids) and state == "HIT" and "Beta, never edited." in body


def test_varnish_drops_the_pages_of_a_purged_key_and_refuses_a_purge_naming_none(varnish):
    profile = InstitutionFactory()
    varnish.get(profile.get_absolute_url())
    missing_keys = urllib.request.Request(varnish.url("/"), method="PURGE")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(missing_keys, timeout=5)
    assert refused.value.code == 400
    purged = urllib.request.Request(varnish.url("/"), method="PURGE", headers={"xkey-purge": f"p:{profile.slug}"})
    with urllib.request.urlopen(purged, timeout=5) as answer:
        assert answer.status == 200 and answer.reason == "Invalidated 1 objects"
    assert not is_hit(varnish.get(profile.get_absolute_url())[1])


def test_without_the_purger_varnish_keeps_serving_the_old_page(varnish, settings):
    """The control: it is the purge, not a short TTL or a pass, that makes the edit visible above."""
    settings.BTW_CDN_PURGE = ""
    a = InstitutionFactory(dek="Alpha before the edit.")
    varnish.get(a.get_absolute_url())
    a.dek = "Alpha after the edit."
    services.save_institution(institution=a, user=StaffFactory(), form_version=a.version)
    time.sleep(VISIBLE_WITHIN)
    body, ids, _ = varnish.get(a.get_absolute_url())
    assert is_hit(ids) and "Alpha before the edit." in body
