"""/api/users: people and their sign-ins."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.accounts.signins import api_login


def count_queries(client, url):
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    return len(context.captured_queries), response.json()


@pytest.mark.django_db
def test_listing_sign_ins_takes_the_same_queries_for_one_or_many(world, client_for):
    client = client_for(world.superadmin)
    url = f"/api/users/{world.agent.pk}/sessions"
    api_login("agent")
    few, rows = count_queries(client, url)
    assert len(rows) == 1
    for _ in range(5):
        api_login("agent")
    many, rows = count_queries(client, url)
    assert len(rows) == 6 and {row["username"] for row in rows} == {"agent"}
    assert many == few


@pytest.mark.django_db
def test_sign_ins_are_the_plain_list_the_schema_documents(world, client_for, assert_documented):
    api_login("agent")
    response = client_for(world.superadmin).get(f"/api/users/{world.agent.pk}/sessions/?page=2&search=nobody")
    assert len(response.json()) == 1
    assert_documented(response, "/api/users/{id}/sessions/")

