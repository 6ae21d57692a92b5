"""Reading an admin form page in billing's admin tests."""


def form_errors(response) -> str:
    """The errors of a refused admin form (a page shown again, not a redirect)."""
    assert response.status_code == 200, "the form was accepted"
    return str(response.context["adminform"].form.errors)
