# kefu: `make run` (embedded defaults, one machine) and `make test` (every test, SQLite then PostgreSQL).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: run setup test test-sqlite test-postgres lint pgvector system-packages clean

$(PY):
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: apt-get install python3.11 python3.11-venv"; exit 1; }
	@bash .ci/apt-ensure.sh "$(PYTHON) -c 'import ensurepip'" python3.11-venv "command -v msgfmt" gettext
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.base-installed: $(PY) requirements/base.txt requirements/production.txt
	$(PIP) install -q -r requirements/production.txt
	touch $@

$(VENV)/.dev-installed: $(VENV)/.base-installed requirements/dev.txt requirements/desktop.txt
	$(PIP) install -q -r requirements/dev.txt
	touch $@

setup: $(VENV)/.base-installed
	mkdir -p var
	$(PY) manage.py init_env
	$(PY) manage.py migrate --no-input
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	$(PY) manage.py collectstatic --no-input -v 0
	$(PY) manage.py bootstrap --demo

run: setup
	@echo ""
	@echo "kefu admin: http://127.0.0.1:$${KEFU_PORT:-8000}/admin/   API: http://127.0.0.1:$${KEFU_PORT:-8000}/api/"
	@echo "Sign in with the superadmin printed above (KEFU_ADMIN_USER, default 'admin')."
	@echo ""
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile

system-packages:
	bash .ci/install-system-packages.sh

test: system-packages $(VENV)/.dev-installed
	$(PY) manage.py compilemessages --ignore=.venv -v 0
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	DJANGO_SETTINGS_MODULE=kefu.settings.test $(PY) manage.py makemigrations --check --dry-run
	@status=0; \
	echo "=== pass 1/2: SQLite ==="; $(PY) -m pytest --db=sqlite --one-pass-each $(PYTEST_ARGS) || status=1; \
	echo "=== pass 2/2: PostgreSQL ==="; $(PY) -m pytest --db=postgres --create-db --one-pass-each $(PYTEST_ARGS) || status=1; \
	exit $$status

test-sqlite: $(VENV)/.dev-installed
	$(PY) -m pytest --db=sqlite $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev-installed
	$(PY) -m pytest --db=postgres --create-db $(PYTEST_ARGS)

lint: $(VENV)/.dev-installed
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

pgvector:
	bash .ci/install-pgvector.sh

clean:
	rm -rf $(VENV) var
