"""A write Redis dropped is recorded in the database, so no process reads what it made stale.

Each test runs two cache objects against one throwaway redis-server, standing for two processes
(a gunicorn worker serving pages, and the worker or `manage.py` run that edits while Redis is away),
with the database cache as the durable record both read.
"""

import atexit
import shutil
import signal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from btwprofiles.redis_cache import ResilientRedisCache

from .test_faults import RedisServer
from .test_scale_out import missing_service

pytestmark = pytest.mark.django_db(transaction=True)  # epoch moves commit, as they do in autocommit


@pytest.fixture
def redis_server(settings):
    if shutil.which("redis-server") is None:
        missing_service("Needs redis-server (installed with Redis) to start a throwaway one")
    settings.CACHES = {
        **settings.CACHES,
        "durable": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "btw_epoch_test"},
    }
    call_command("createcachetable", "btw_epoch_test", verbosity=0)
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def processes(redis_server):
    made = []

    def process() -> ResilientRedisCache:
        made.append(_process(redis_server))
        return made[-1]

    yield process
    for cache in made:
        atexit.unregister(cache._settle)


def _process(server) -> ResilientRedisCache:
    cache = ResilientRedisCache(
        f"redis://127.0.0.1:{server.port}/0",
        {"KEY_PREFIX": "epoch-test"},
    )
    cache.EPOCH_INTERVAL = 0  # re-read the epoch on every call: the test need not wait a second
    return cache


def _frozen(server):
    server.proc.send_signal(signal.SIGSTOP)  # unreachable, yet it keeps every key it holds


def _thawed(server):
    server.proc.send_signal(signal.SIGCONT)


def test_a_bump_dropped_while_redis_is_frozen_retires_what_another_process_stored(redis_server, processes):
    reader, editor = processes(), processes()
    reader.set("page", "rendered before the edit")
    assert editor.get("page") == "rendered before the edit"

    _frozen(redis_server)
    editor.set("content-version", "after the edit")  # dropped: Redis cannot answer
    _thawed(redis_server)

    assert reader.get("page") is None  # a miss, so the page is built again from the database
    reader.set("page", "rendered after the edit")
    editor._retry_at = 0  # its retry interval has passed
    assert editor.get("page") == "rendered after the edit"


def test_a_run_that_ends_while_redis_is_away_records_its_last_drops_at_exit(redis_server, processes):
    reader, run = processes(), processes()
    _frozen(redis_server)
    run.set("first", 1)  # the first drop of an outage moves the epoch at once
    _thawed(redis_server)
    reader.set("page", "stored after the first move")
    run.delete("session")  # a second drop within a second: owed, not yet written
    assert reader.get("page") == "stored after the first move"

    run._settle()  # what atexit does when the run ends
    assert reader.get("page") is None


def test_the_first_call_after_an_outage_moves_the_epoch_before_storing_anything(redis_server, processes):
    reader, worker = processes(), processes()
    _frozen(redis_server)
    worker.set("first", 1)
    _thawed(redis_server)
    reader.set("page", "stored while the worker still counted Redis as away")
    worker.delete("session")  # dropped without trying: within the worker's retry interval
    worker._retry_at = 0  # the interval has passed
    assert worker.get("page") is None  # it moved the epoch first
    assert reader.get("page") is None


def test_a_healthy_cache_never_writes_the_epoch(processes, django_assert_max_num_queries):
    cache = processes()
    cache.EPOCH_INTERVAL = 60
    with django_assert_max_num_queries(1):  # the one read of the epoch in an interval; no writes
        for number in range(50):
            cache.set(f"key-{number}", number)
            assert cache.get(f"key-{number}") == number


def test_a_redis_cache_without_its_durable_record_is_refused():
    with pytest.raises(ImproperlyConfigured, match="epoch"):
        ResilientRedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"EPOCH_CACHE": "nowhere"}})
