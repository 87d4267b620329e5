"""The CDN purger (`profiles.purge`): one purge per committed transaction, after the page cache has moved;
Varnish, Fastly and Cloudflare spoken to as their APIs expect (batches, auth headers), against fake
servers on 127.0.0.1; failures logged without the token and retried by the job queue, never raised
into the editor's save. The real Varnish is tests/test_varnish.py."""

import datetime
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.signals import task_finished
from django_tasks_db.models import DBTaskResult

from profiles import purge, services
from profiles.cache import tag_key
from profiles.dependencies import LISTS, profile_tag

from .factories import InstitutionFactory, StaffFactory

pytestmark = pytest.mark.django_db

TOKEN = "tok-3f9c0a-very-secret"
TIMEOUT = 0.4  # BTW_CDN_PURGE_TIMEOUT under these tests


class Handler(BaseHTTPRequestHandler):
    """Records every request (its headers case-insensitive, as received); answers with the server's next
    scripted answer, then 200 `{"success": true}`."""

    def log_message(self, *args):  # quiet
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, self.headers, body))
        if self.server.on_request:
            self.server.on_request(self)
        status, answer = self.server.script.pop(0) if self.server.script else (200, b'{"success": true}')
        if status == "hang":
            time.sleep(TIMEOUT * 4)
            status = 200
        if status == "echo":  # an error page that repeats the credentials it was sent
            sent = self.headers.get("Fastly-Key") or self.headers.get("Authorization")
            status, answer = 500, json.dumps({"error": "bad credentials", "sent": sent}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = do_PURGE = _answer


class FakeCDN(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests, self.script, self.on_request = [], [], None

    def handle_error(self, request, client_address):
        pass  # a client that gave up waiting (the timeout tests) breaks the pipe: expected


@pytest.fixture
def cdn():
    """A fake CDN API on a loopback port: `.requests`, `.script` (answers to give), `.url`."""
    server = FakeCDN()
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def varnish(settings, cdn):
    settings.BTW_CDN_PURGE = "varnish"
    settings.BTW_CDN_PURGE_URLS = [f"{cdn.url}/"]
    settings.BTW_CDN_PURGE_TIMEOUT = TIMEOUT
    return cdn


@pytest.fixture
def fastly(settings, cdn):
    settings.BTW_CDN_PURGE = "fastly"
    settings.BTW_FASTLY_API_URL = cdn.url
    settings.BTW_FASTLY_SERVICE_ID = "SU1Z0isxPaozGVKXdv0eY"
    settings.BTW_FASTLY_API_TOKEN = TOKEN
    settings.BTW_CDN_PURGE_TIMEOUT = TIMEOUT
    return cdn


@pytest.fixture
def cloudflare(settings, cdn):
    settings.BTW_CDN_PURGE = "cloudflare"
    settings.BTW_CLOUDFLARE_API_URL = cdn.url
    settings.BTW_CLOUDFLARE_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
    settings.BTW_CLOUDFLARE_API_TOKEN = TOKEN
    settings.BTW_CDN_PURGE_TIMEOUT = TIMEOUT
    return cdn


@pytest.fixture
def jobs():
    """The purge jobs that finished, in order (the immediate backend runs them in this process)."""
    finished = []

    def record(sender, task_result, **kwargs):
        if task_result.task.name == "purge_tags":
            finished.append(task_result)

    task_finished.connect(record)
    yield finished
    task_finished.disconnect(record)


def keys(n: int) -> list[str]:
    return [profile_tag(f"profile-{i}") for i in range(n)]


def edit(profile, *, user, **changes):
    """An edit through the service the admin's change form calls."""
    for name, value in changes.items():
        setattr(profile, name, value)
    return services.save_institution(institution=profile, user=user, form_version=profile.version)


def purged_keys(request) -> set[str]:
    return set(request[2]["xkey-purge"].split())


# --- when a purge is sent -------------------------------------------------------------------------------------


def test_no_purge_is_sent_when_no_cdn_is_configured(settings, cdn, django_capture_on_commit_callbacks):
    settings.BTW_CDN_PURGE_URLS = [f"{cdn.url}/"]  # an address, but no backend named
    profile = InstitutionFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        edit(profile, user=StaffFactory(), dek="Off by default.")
    assert not any(isinstance(callback, purge._CommitPurge) for callback in callbacks)
    assert cdn.requests == []


@pytest.mark.django_db(transaction=True)
def test_one_purge_per_transaction_whatever_the_number_of_saves(varnish):
    a, b = InstitutionFactory(), InstitutionFactory()
    user = StaffFactory()
    varnish.requests.clear()  # the creations' own purges (autocommit: each sent at once)
    with transaction.atomic():
        edit(a, user=user, dek="First save of A.")
        edit(a, user=user, dek="Second save of A.")
        edit(b, user=user, dek="A save of B.")
    assert len(varnish.requests) == 1
    method, path, headers, _body = varnish.requests[0]
    assert method == "PURGE" and path == "/"
    assert purged_keys(varnish.requests[0]) == {LISTS, profile_tag(a.slug), profile_tag(b.slug)}


def test_no_purge_when_the_transaction_rolls_back(varnish, django_capture_on_commit_callbacks):
    profile = InstitutionFactory()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        edit(profile, user=StaffFactory(), dek="Never committed.")
        raise RuntimeError("the editor's save fails")
    assert varnish.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_takes_only_its_own_keys(varnish):
    kept, dropped = InstitutionFactory(), InstitutionFactory()
    user = StaffFactory()
    varnish.requests.clear()
    with transaction.atomic():
        edit(kept, user=user, dek="Committed.")
        try:
            with transaction.atomic():
                edit(dropped, user=user, dek="Rolled back.")
                raise RuntimeError
        except RuntimeError:
            pass
    assert len(varnish.requests) == 1
    assert profile_tag(kept.slug) in purged_keys(varnish.requests[0])
    assert profile_tag(dropped.slug) not in purged_keys(varnish.requests[0])


def test_the_purge_is_sent_after_the_page_cache_has_moved(varnish, django_capture_on_commit_callbacks):
    """A CDN refetching the moment it is purged must get fresh pages from the app: every commit bump of
    the transaction (the later saves register theirs after the first purge registration) comes first."""
    a, b = InstitutionFactory(), InstitutionFactory()
    counters = [tag_key(profile_tag(a.slug)), tag_key(profile_tag(b.slug)), tag_key(LISTS)]
    seen = []
    varnish.on_request = lambda handler: seen.append(cache.get_many(counters))
    user = StaffFactory()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        edit(a, user=user, dek="A first.")
        edit(b, user=user, dek="Then B, whose counter's commit bump is registered later.")
    assert seen == [cache.get_many(counters)]


def test_a_change_that_retires_everything_purges_the_site_key_alone(varnish, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        purge.after_commit(["site", LISTS, profile_tag("a")])
    assert [purged_keys(request) for request in varnish.requests] == [{"site"}]


# --- the backends ---------------------------------------------------------------------------------------------


def test_varnish_gets_every_key_in_batches_at_every_server(settings, varnish, jobs):
    settings.BTW_CDN_PURGE_URLS = [f"{varnish.url}/one", f"{varnish.url}/two"]
    purge.purge_tags.enqueue(keys(100))
    paths = [request[1] for request in varnish.requests]
    assert sorted(paths) == ["/one", "/one", "/two", "/two"]  # 100 keys: batches of 64 and 36, at both
    assert set().union(*map(purged_keys, varnish.requests)) == set(keys(100))
    assert jobs[-1].status == TaskResultStatus.SUCCESSFUL


def test_fastly_purges_by_surrogate_key_in_batches_of_256_with_its_token(fastly, jobs):
    purge.purge_tags.enqueue(keys(600))
    assert [len(request[2]["Surrogate-Key"].split()) for request in fastly.requests] == [256, 256, 88]
    for method, path, headers, _body in fastly.requests:
        assert (method, path) == ("POST", "/service/SU1Z0isxPaozGVKXdv0eY/purge")
        assert headers["Fastly-Key"] == TOKEN
    assert jobs[-1].status == TaskResultStatus.SUCCESSFUL


def test_cloudflare_purges_tags_in_batches_of_30_with_a_bearer_token(cloudflare, jobs):
    purge.purge_tags.enqueue(keys(65))
    bodies = [json.loads(request[3]) for request in cloudflare.requests]
    assert [len(body["tags"]) for body in bodies] == [30, 30, 5]
    assert [tag for body in bodies for tag in body["tags"]] == keys(65)
    for method, path, headers, _body in cloudflare.requests:
        assert (method, path) == ("POST", "/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache")
        assert headers["Authorization"] == f"Bearer {TOKEN}"
        assert headers["Content-Type"] == "application/json"
    assert jobs[-1].status == TaskResultStatus.SUCCESSFUL


def test_a_cloudflare_answer_without_success_is_a_failure(settings, cloudflare, jobs, caplog):
    settings.BTW_CDN_PURGE_ATTEMPTS = 1
    cloudflare.script = [(200, b'{"success": false, "errors": [{"code": 1134, "message": "Not entitled"}]}')]
    with caplog.at_level(logging.WARNING, logger="profiles.purge"):
        purge.purge_tags.enqueue(keys(3))
    assert jobs[-1].status == TaskResultStatus.FAILED
    assert "Not entitled" in caplog.text


# --- failures -------------------------------------------------------------------------------------------------


def test_a_failed_purge_is_retried_by_the_queue_and_only_the_failed_batch(settings, fastly, jobs):
    settings.BTW_CDN_PURGE_ATTEMPTS = 3
    fastly.script = [(200, b"{}"), (503, b"busy"), (502, b"bad gateway")]  # batch 2 fails twice
    purge.purge_tags.enqueue(keys(300))
    sizes = [len(request[2]["Surrogate-Key"].split()) for request in fastly.requests]
    assert sizes == [256, 44, 44, 44]
    assert [job.status for job in jobs] == [TaskResultStatus.SUCCESSFUL] * 3
    assert jobs[0].args == [keys(300)[256:], 3]  # the last retry (it finished first: run inside the others)


def test_on_the_database_queue_the_purge_is_a_job_and_a_failure_waits_before_its_retry(
    settings, fastly, django_capture_on_commit_callbacks
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.BTW_CDN_PURGE_BACKOFF = 30.0
    profile = InstitutionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        edit(profile, user=StaffFactory(), dek="Purged by a worker.")
    assert fastly.requests == []  # nothing sent by the editor's process
    job = DBTaskResult.objects.get(task_path="profiles.purge.purge_tags")
    assert set(job.args_kwargs["args"][0]) >= {LISTS, profile_tag(profile.slug)}

    fastly.script = [(503, b"busy")]
    before = timezone.now()
    job.task.call(*job.args_kwargs["args"])  # what a worker does with the row
    retry = DBTaskResult.objects.exclude(pk=job.pk).get()
    assert retry.args_kwargs["args"] == [job.args_kwargs["args"][0], 2]
    assert retry.run_after >= before + datetime.timedelta(seconds=30)


def test_attempts_are_limited_and_the_last_failure_is_recorded(settings, fastly, jobs, caplog):
    settings.BTW_CDN_PURGE_ATTEMPTS = 2
    fastly.script = [(500, b"down")] * 5
    with caplog.at_level(logging.WARNING, logger="profiles.purge"):
        purge.purge_tags.enqueue(keys(2))
    assert len(fastly.requests) == 2
    assert jobs[0].status == TaskResultStatus.FAILED  # the retry, which finished first (it ran inside the first)
    assert "given up after 2 attempt(s)" in caplog.text


@pytest.mark.parametrize("backend", ["fastly", "cloudflare"])
def test_tokens_never_appear_in_logs_or_job_records(request, settings, backend, jobs, caplog):
    server = request.getfixturevalue(backend)
    settings.BTW_CDN_PURGE_ATTEMPTS = 2
    server.script = [("echo", b"")] * 2  # the API's error pages repeat the token we sent
    with caplog.at_level(logging.DEBUG):
        purge.purge_tags.enqueue(keys(3))
    assert len(server.requests) == 2 and TOKEN in str(server.requests[0][2])
    assert "[redacted]" in caplog.text  # positive control: the echoed answer was logged, cut
    assert TOKEN not in caplog.text
    for job in jobs:
        assert TOKEN not in repr(job.args) + repr(job.kwargs) + repr([error.traceback for error in job.errors])


def test_a_cdn_that_hangs_or_is_down_never_fails_the_editors_save(
    settings, varnish, caplog, django_capture_on_commit_callbacks
):
    settings.BTW_CDN_PURGE_ATTEMPTS = 1
    varnish.script = [("hang", b"")]
    profile, user = InstitutionFactory(), StaffFactory()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="profiles.purge"):
        with django_capture_on_commit_callbacks(execute=True):
            edit(profile, user=user, dek="Saved while the CDN hangs.")
        settings.BTW_CDN_PURGE_URLS = ["http://127.0.0.1:9/"]  # nothing listens on the discard port
        with django_capture_on_commit_callbacks(execute=True):
            edit(profile, user=user, dek="Saved while the CDN is down.")
    assert time.monotonic() - started < TIMEOUT * 4
    profile.refresh_from_db()
    assert profile.dek == "Saved while the CDN is down."
    assert caplog.text.count("varnish purge of") == 2 and "timed out" in caplog.text


def test_an_unknown_backend_is_refused_with_a_readable_reason(settings, caplog):
    settings.BTW_CDN_PURGE = "akamai"
    with pytest.raises(ImproperlyConfigured, match="BTW_CDN_PURGE is one of varnish, fastly, cloudflare"):
        purge.configured()
    with caplog.at_level(logging.ERROR, logger="profiles.purge"):
        result = purge.purge_tags.enqueue(keys(1))
    assert result.status == TaskResultStatus.FAILED and "not 'akamai'" in caplog.text


def test_a_backend_missing_its_settings_says_which(settings):
    settings.BTW_CDN_PURGE = "fastly"
    settings.BTW_FASTLY_SERVICE_ID = "svc"
    with pytest.raises(ImproperlyConfigured, match="BTW_CDN_PURGE=fastly needs BTW_FASTLY_API_TOKEN"):
        purge.configured()
