import pytest
from django.core.exceptions import ValidationError

from accounts.services import user_create, user_update


@pytest.mark.django_db
def test_passwords_pass_djangos_validators_whichever_way_they_come(world):
    with pytest.raises(ValidationError) as refused:
        user_create(username="newbie", password="12345")
    assert "password" in refused.value.message_dict
    with pytest.raises(ValidationError):
        user_update(user=world.agent, password="agent")
