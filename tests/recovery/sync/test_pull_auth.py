"""The pull keeps every check of authentication while its user lookup is compiled once
(``accounts.authentication.UserLookup``): a token of an inactive, deleted or re-passworded user,
an expired or forged token, are all a 401, and the user it loads is the ORM's."""

from datetime import timedelta

import pytest
from django.db.models import F
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import JWTAuthentication, UserLookup
from accounts.models import User
from accounts.tokens import tokens_for

from .helpers import pull

pytestmark = pytest.mark.django_db


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_the_compiled_lookup_loads_the_orms_user(patient, surgeon):
    fields = [f.attname for f in User._meta.concrete_fields]
    for user in (patient.user, surgeon):
        mine = UserLookup().get(id=user.pk)
        orm = User.objects.annotate(own_patient_pk=F("patient_profile__pk")).get(pk=user.pk)
        assert [getattr(mine, n) for n in fields] == [getattr(orm, n) for n in fields]
        assert mine.own_patient_pk == orm.own_patient_pk
        assert (mine._state.adding, mine._state.db) == (False, "default")
    assert UserLookup().get(id=patient.user.pk).own_patient_pk == patient.pk
    assert UserLookup().get(id=surgeon.pk).own_patient_pk is None
    with pytest.raises(User.DoesNotExist):
        UserLookup().get(id=10**9)


def test_a_pull_looks_the_user_up_once(patient, django_assert_num_queries):
    token = tokens_for(patient.user)["access"]
    client = with_token(token)
    pull(client)  # compiled on first use
    request = type("R", (), {"META": {"HTTP_AUTHORIZATION": f"Bearer {token}"}})()
    with django_assert_num_queries(1):
        user, _ = JWTAuthentication().authenticate(request)
    assert user == patient.user


@pytest.mark.parametrize("change", ["inactive", "password", "deleted", "expired", "forged"])
def test_every_check_of_the_token_still_holds(patient, change):
    user = patient.user
    token = tokens_for(user)["access"]
    assert pull(with_token(token)).status_code == 200
    if change == "inactive":
        User.objects.filter(pk=user.pk).update(is_active=False)
    elif change == "password":
        user.set_password("a whole new passphrase")
        user.save()
    elif change == "deleted":
        gone = AccessToken.for_user(user)
        gone["user_id"] = 10**9  # a well-signed token of a user who is not there
        token = str(gone)
    elif change == "expired":
        expired = AccessToken.for_user(user)
        expired.set_exp(lifetime=-timedelta(seconds=1))
        token = str(expired)
    else:
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = pull(with_token(token))
    assert response.status_code == 401, response.content
    assert "changes" not in response.json()
