"""One safe fetch, against a real HTTP server on 127.0.0.1: limits hold, nothing hangs, a bad source
gives a recorded error (never an exception), and the SSRF guard refuses every non-public address —
judged on the resolved address, resolved once, and connected to as resolved."""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import ssl
import subprocess
import sys
import threading
from http.server import HTTPServer
from pathlib import Path

import pytest

from profiles.sources import fetch as fetch_module
from profiles.sources import text as readable
from profiles.sources.addresses import refusal
from profiles.sources.fetch import fetch

from .source_server import MAX_BYTES, MAX_REDIRECTS, READ_TIMEOUT, TOTAL_TIMEOUT, Handler, fetch_limits, source_server

__all__ = ["fetch_limits", "source_server"]  # fixtures

BASE_DIR = Path(__file__).resolve().parent.parent


class FakeDNS:
    """A resolver that answers what a test says (`dns["victim.test"] = ["10.0.0.5"]`) and counts lookups."""

    def __init__(self):
        self.answers: dict[str, list[str]] = {}
        self.calls: list[str] = []

    def __setitem__(self, host, addresses):
        self.answers[host] = addresses

    def __call__(self, host, port):
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


@pytest.fixture
def resolver(monkeypatch, settings):
    """The fetcher's one lookup per hop goes to a FakeDNS; the guard is on for every host not allowed."""
    settings.BTW_FETCH_ONLY_ALLOWED_HOSTS = False
    dns = FakeDNS()
    monkeypatch.setattr(fetch_module, "resolve", dns)
    return dns


@pytest.fixture
def connections(monkeypatch):
    """Every connection the fetcher opens, by address (and still made, to the real server)."""
    made: list[tuple[str, int]] = []
    real = fetch_module._connect

    def connect(address, port, timeout):
        made.append((address, port))
        return real(address, port, timeout)

    monkeypatch.setattr(fetch_module, "_connect", connect)
    return made


# --- a normal page --------------------------------------------------------------------------------


def test_a_page_is_fetched_with_its_title_readable_text_and_hash(fetch_limits, source_server):
    url = source_server.url("/page")
    result = fetch(url)
    assert result.ok and result.error == ""
    assert (result.status, result.final_url, result.redirects) == (200, url, [])
    assert result.title == "Foxconn and OpenAI partner"
    assert result.text == "Partnership Racks, cabling and power."  # no script, no style, whitespace normalised
    assert result.text_hash == hashlib.sha256(result.text.encode()).hexdigest()
    assert result.content_type == "text/html; charset=utf-8"
    assert result.size > 0 and result.etag == '"v1"' and result.last_modified.startswith("Mon, 01 Dec 2025")
    assert abs(result.fetched_at - datetime.datetime.now(datetime.UTC)) < datetime.timedelta(seconds=5)


def test_the_text_hash_moves_when_the_words_change(fetch_limits, source_server):
    first, second = fetch(source_server.url("/changing")), fetch(source_server.url("/changing"))
    assert first.ok and second.ok
    assert first.text_hash != second.text_hash and first.title != second.title


def test_the_text_hash_ignores_markup_scripts_and_whitespace():
    a = b"<html><head><title>T</title><script>x()</script></head><body><p>Same   words</p>\n<b>here</b></body></html>"
    b = b"<html><body><div>Same words</div> <i>here</i><style>p{}</style><!-- note --></body></html>"
    hashes = {readable.text_hash(body, "text/html", readable.readable(body, "text/html")[0]) for body in (a, b)}
    assert len(hashes) == 1


def test_compressed_answers_are_read_like_plain_ones(fetch_limits, source_server):
    plain, compressed = fetch(source_server.url("/page")), fetch(source_server.url("/gzip"))
    assert compressed.ok and compressed.text_hash == plain.text_hash and compressed.title == plain.title


def test_the_fetcher_names_the_site_in_its_user_agent(fetch_limits, source_server, settings):
    result = fetch(source_server.url("/echo"))
    assert f"ua=BTW Profiles source check (+{settings.SITE_URL}/)" in result.text


# --- types other than HTML ------------------------------------------------------------------------------


def test_plain_text_is_hashed_as_it_is(fetch_limits, source_server):
    result = fetch(source_server.url("/notes.txt"))
    assert result.ok and result.text == "Plain   notes\nkept as they are." and result.title == ""
    assert result.text_hash == hashlib.sha256(result.text.encode()).hexdigest()


def test_a_binary_source_is_hashed_byte_for_byte(fetch_limits, source_server):
    result = fetch(source_server.url("/report.pdf"))
    assert result.ok and result.content_type == "application/pdf" and result.text == ""
    assert result.text_hash == hashlib.sha256(b"%PDF-1.7\n\x00\x01binary filing").hexdigest()


def test_an_empty_page_is_an_answer_without_text(fetch_limits, source_server):
    result = fetch(source_server.url("/empty"))
    assert result.ok and (result.size, result.text, result.text_hash) == (0, "", "")


# --- redirects --------------------------------------------------------------------------------------------


def test_redirects_within_the_limit_are_followed_and_recorded(fetch_limits, source_server):
    result = fetch(source_server.url(f"/redirect/{MAX_REDIRECTS}"))
    assert result.ok and result.final_url == source_server.url("/page")
    assert [hop["status"] for hop in result.redirects] == [302] * MAX_REDIRECTS
    assert result.redirects[0] == {
        "url": source_server.url(f"/redirect/{MAX_REDIRECTS}"),
        "status": 302,
        "location": source_server.url(f"/redirect/{MAX_REDIRECTS - 1}"),
    }


def test_redirects_beyond_the_limit_stop_the_fetch(fetch_limits, source_server):
    result = fetch(source_server.url(f"/redirect/{MAX_REDIRECTS + 1}"))
    assert result.error == "too-many-redirects" and not result.ok
    assert len(result.redirects) == MAX_REDIRECTS + 1
    assert len(source_server.requests) == MAX_REDIRECTS + 1  # the hop past the limit is not requested


def test_a_redirect_to_the_metadata_address_is_refused_without_connecting(
    fetch_limits, source_server, resolver, connections
):
    result = fetch(source_server.url("/redirect-metadata"))
    assert result.error == "blocked-address" and "cloud metadata" in result.message
    assert result.final_url == "http://169.254.169.254/latest/meta-data/"
    assert connections == [("127.0.0.1", source_server.server_port)]  # the first hop only


def test_a_redirect_to_a_host_that_resolves_privately_is_refused(fetch_limits, source_server, resolver, connections):
    resolver["internal.test"] = ["10.0.0.7"]
    result = fetch(source_server.url("/redirect-internal"))
    assert result.error == "blocked-address" and "10.0.0.7" in result.message and "private" in result.message
    assert resolver.calls == ["internal.test"]
    assert [address for address, _ in connections] == ["127.0.0.1"]


def test_a_redirect_to_another_scheme_is_refused(fetch_limits, source_server):
    result = fetch(source_server.url("/redirect-ftp"))
    assert result.error == "bad-url" and result.final_url.startswith("ftp://")


# --- time and size limits: nothing hangs -------------------------------------------------------------------


def test_a_slow_server_times_out_at_the_read_timeout(fetch_limits, source_server):
    result = fetch(source_server.url("/slow"))
    assert result.error == "timeout" and result.status is None
    # Given up before the server answers (it sleeps READ_TIMEOUT * 4); generous for a loaded machine.
    assert result.elapsed < READ_TIMEOUT * 4 - 0.1


def test_a_body_dripping_a_byte_at_a_time_ends_at_the_deadline(fetch_limits, source_server):
    result = fetch(source_server.url("/drip"))
    assert result.error == "timeout"
    assert TOTAL_TIMEOUT - 0.3 < result.elapsed < TOTAL_TIMEOUT + 2


def test_an_unanswered_connection_times_out(fetch_limits, settings):
    """A listener that never accepts: the connect succeeds at TCP level, the answer never comes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        result = fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/")
    finally:
        listener.close()
    assert result.error == "timeout" and result.elapsed < READ_TIMEOUT * 4


@pytest.mark.parametrize(
    "path, why",
    [
        ("/big", "reading stopped"),
        ("/big-declared", "Content-Length"),
        ("/gzip-bomb", "once decompressed"),
    ],
)
def test_a_body_over_the_size_limit_is_recorded_as_too_large(fetch_limits, source_server, path, why):
    result = fetch(source_server.url(path))
    assert result.error == "too-large" and why in result.message
    assert result.status == 200 and result.text_hash == "" and result.text == ""
    assert result.size <= MAX_BYTES + 64 * 1024  # reading stops within one chunk of the limit


# --- answers that are errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 410, 429, 500])
def test_an_error_status_is_an_answer_recorded_with_its_status(fetch_limits, source_server, status):
    result = fetch(source_server.url(f"/status/{status}"))
    assert result.status == status and result.error == "" and not result.ok
    assert result.message.startswith(f"HTTP {status}")
    assert result.retry_after == ("120" if status == 429 else "")


@pytest.mark.parametrize(
    "url, error",
    [
        ("ftp://files.example.org/report.pdf", "bad-url"),
        ("file:///etc/passwd", "bad-url"),
        ("gopher://127.0.0.1:70/", "bad-url"),
        ("javascript:alert(1)", "bad-url"),
        ("/relative/path", "bad-url"),
        ("http://", "bad-url"),
        ("http://user:secret@127.0.0.1/", "bad-url"),
        ("http://127.0.0.1:99999/", "bad-url"),
        ("http://[::1/", "bad-url"),
        ("", "bad-url"),
        ("http://nowhere.invalid/", "dns"),
    ],
)
def test_an_unfetchable_url_gives_an_error_not_an_exception(fetch_limits, resolver, url, error):
    result = fetch(url)
    assert result.error == error and result.message and result.status is None


def test_a_refused_connection_is_recorded(fetch_limits):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = fetch(f"http://127.0.0.1:{port}/")
    assert result.error == "connect"


def test_a_certificate_that_does_not_verify_is_a_tls_error(fetch_limits, tmp_path):
    """TLS is verified against the host name (SNI): a self-signed certificate is refused."""
    cert, key = _self_signed(tmp_path, "127.0.0.1")
    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.requests = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = fetch(f"https://127.0.0.1:{server.server_port}/page")
    finally:
        server.shutdown()
        server.server_close()
    assert result.error == "tls" and "certificate" in result.message.lower()


def _self_signed(directory, name):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


# --- the SSRF guard ----------------------------------------------------------------------------------------

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.10.10", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),  # noqa: S104
    ("224.0.0.251", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fe80::1%1", "scoped"),
    ("fc00::1", "private"),
    ("fd00:ec2::254", "cloud metadata"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:10.0.0.1", "private"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
    ("2002:a9fe:a9fe::1", "cloud metadata"),  # 6to4 of 169.254.169.254
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # NAT64 of 169.254.169.254
    ("::7f00:1", "reserved"),  # IPv4-compatible (deprecated) 127.0.0.1
    ("2001:db8::1", "private"),  # documentation
]


@pytest.mark.parametrize("address, reason", REFUSED)
def test_the_guard_refuses_a_non_public_address(address, reason):
    assert reason in refusal(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::5db8:d70e"])
def test_the_guard_passes_a_public_address(address):
    assert refusal(address) == ""


@pytest.mark.parametrize("address, reason", REFUSED)
def test_a_host_resolving_to_a_refused_address_is_never_connected_to(
    fetch_limits, resolver, connections, address, reason
):
    resolver["victim.test"] = [address]
    result = fetch("http://victim.test/latest/meta-data/")
    assert result.error == "blocked-address" and reason in result.message and address in result.message
    assert connections == []


def test_one_refused_address_among_public_ones_refuses_the_host(fetch_limits, resolver, connections):
    resolver["mixed.test"] = ["93.184.215.14", "2606:4700:4700::1111", "10.0.0.9"]
    result = fetch("https://mixed.test/")
    assert result.error == "blocked-address" and "10.0.0.9" in result.message
    assert connections == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1/", "http://[::1]:1/", "http://2130706433/", "http://0x7f.1/", "http://[::ffff:7f00:1]/"]
)
def test_address_literals_are_judged_like_resolved_names(settings, url, connections):
    """Literal addresses, and the numeric spellings the system resolver turns into them, never connect."""
    settings.BTW_FETCH_ONLY_ALLOWED_HOSTS = False
    result = fetch(url)
    assert result.error in ("blocked-address", "dns") and connections == []


def test_the_host_is_resolved_once_and_connected_to_as_resolved(fetch_limits, resolver, connections, source_server):
    """No second lookup for a rebinding DNS server to answer differently; the name still goes in Host."""
    fetch_limits.BTW_FETCH_ALLOWED_HOSTS = ["127.0.0.1", "pinned.test"]
    resolver["pinned.test"] = ["127.0.0.1"]
    result = fetch(source_server.url("/echo", host="pinned.test"))
    assert result.ok and f"host=pinned.test:{source_server.server_port}" in result.text
    assert resolver.calls == ["pinned.test"]
    assert connections == [("127.0.0.1", source_server.server_port)]


def test_allowed_hosts_skip_the_guard_for_those_names_only(fetch_limits, resolver, connections, source_server):
    resolver["localhost"] = ["127.0.0.1"]
    assert fetch(source_server.url("/page")).ok  # 127.0.0.1 is named in the test settings
    refused = fetch(source_server.url("/page", host="localhost"))
    assert refused.error == "blocked-address" and "loopback" in refused.message


def test_under_the_tests_only_allowed_hosts_are_fetched_and_nothing_is_looked_up(monkeypatch, settings):
    settings.BTW_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    assert settings.BTW_FETCH_ONLY_ALLOWED_HOSTS  # the default under the tests

    def no_lookup(host, port):
        raise AssertionError(f"looked up {host}")

    monkeypatch.setattr(fetch_module, "resolve", no_lookup)
    result = fetch("https://news.example.org/story")
    assert result.error == "host-not-allowed"


def test_production_refuses_to_start_with_allowed_hosts():
    env = {
        **os.environ,
        "DJANGO_SECURE": "1",
        "DJANGO_SECRET_KEY": "x" * 60,
        "BTW_FETCH_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SETTINGS_MODULE": "btwprofiles.settings",
    }
    env.pop("DJANGO_DEBUG", None)
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode != 0 and "BTW_FETCH_ALLOWED_HOSTS" in run.stderr
