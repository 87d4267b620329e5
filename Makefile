# BTW Profiles — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1:8000
# The address links name (DJANGO_SITE_URL) follows HOST unless given: a bare port is on 127.0.0.1,
# and 0.0.0.0 (listen everywhere) is reached at 127.0.0.1.
RUN_SITE_URL := http://$(subst 0.0.0.0:,127.0.0.1:,$(if $(findstring :,$(HOST)),$(HOST),127.0.0.1:$(HOST)))

.PHONY: run test install lint serve worker migrate seed clean

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	@touch $@

install: $(VENV)/.installed

# migrate makes the database cache's table first (profiles.cache.create_cache_table, pre_migrate).
migrate: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput

seed: migrate
	DJANGO_DEBUG=1 $(PY) manage.py seed_demo

## make run: set up everything and serve the demo on http://127.0.0.1:8000 (SQLite)
run: export DJANGO_SITE_URL ?= $(RUN_SITE_URL)
run: seed
	DJANGO_DEBUG=1 $(PY) manage.py runserver $(HOST)

## make test: the whole suite (SQLite; PostgreSQL when DATABASE_URL is set)
test: install
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## make serve: production-style serving (gunicorn + whitenoise); configure with the environment
serve: install
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py migrate --noinput
	$(VENV)/bin/gunicorn --config gunicorn.conf.py

## make worker: one background-job worker (start any number, on any machine sharing DATABASE_URL);
## it runs jobs only with BTW_TASKS_BACKEND=database (set it for the app machines too). WORKER_ARGS: more options.
worker: install
	BTW_TASKS_BACKEND=$${BTW_TASKS_BACKEND:-database} $(PY) manage.py run_worker $(WORKER_ARGS)

lint: install
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) staticfiles db.sqlite3
