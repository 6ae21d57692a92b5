"""Schemathesis over the whole API schema, against the live test server, as an agent and as a superadmin:
no 5xx, and no answer that contradicts the schema (status code, content type, body, headers).

Bounded and repeatable: EXAMPLES generated cases per operation and generation mode (data that fits the
schema, and data that does not), derandomised (a fixed seed), no example database. It prints the
counts; rerun them with

    .venv/bin/python -m pytest tests/test_schemathesis.py -s -p no:randomly
"""

import pytest
import requests
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.accounts.factories import PASSWORD

EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
# Left out: signing out ends the run's own sign-in; the connection tests call the provider URLs that
# the run itself writes into configs (a superadmin's are not limited), which must not leave this machine.
# Both are covered by their own tests (tests/accounts, tests/billing/test_schema_docs.py).
LEFT_OUT = {("POST", "/api/auth/logout"), ("POST", "/api/model-configs/{id}/test/"),
            ("POST", "/api/providers/{id}/test/")}


def _sign_in(base_url, username) -> dict:
    response = requests.post(f"{base_url}/api/auth/login", json={"username": username, "password": PASSWORD},
                             timeout=30)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access']}"}


def _run(schema, base_url, headers) -> dict:
    counts = {"requests": 0, "5xx": 0, "schema violations": 0}
    problems = []
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in LEFT_OUT:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))
            def exercise(case):
                response = case.call(base_url=base_url, session=session, headers=headers, timeout=60)
                counts["requests"] += 1
                if response.status_code >= 500:
                    counts["5xx"] += 1
                    problems.append(f"{case.method} {case.formatted_path} → {response.status_code}")
                    return
                try:
                    case.validate_response(response, checks=CHECKS)
                except (Failure, FailureGroup) as failure:  # every failed check, with the case that made it fail
                    found = failure.exceptions if isinstance(failure, FailureGroup) else (failure,)
                    counts["schema violations"] += len(found)
                    problems.extend(f"{case.method} {case.formatted_path}: {str(one)[:600]}"
                                    for one in found)

            exercise()
    return {**counts, "problems": problems}


@pytest.mark.slow
def test_schemathesis_finds_no_5xx_and_no_answer_that_contradicts_the_schema(live_server, transactional_db, world):
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(raw)
    report = {}
    # The agent first: the superadmin's run may deactivate people, the agent among them.
    for role, username in (("agent", "agent"), ("superadmin", "root")):
        report[role] = _run(schema, live_server.url, _sign_in(live_server.url, username))
    for role, counts in report.items():
        print(f"\nschemathesis as {role}: {counts['requests']} requests, {counts['5xx']} 5xx, "
              f"{counts['schema violations']} schema violations")
    problems = [f"{role}: {line}" for role, counts in report.items() for line in counts["problems"]]
    assert not problems, "\n".join(problems[:40])
    assert all(counts["requests"] >= 300 for counts in report.values())
