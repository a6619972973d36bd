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
from recovery.models import PainLog

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


# --- the one-shot pull sent with the user's lookup (SyncPullView.batch_for_user) --------


def _push_poison(client, since):
    """One good pain log and one refused (intensity out of range) through a real push."""
    good = {"id": "good-1", "recorded_at": 1_700_000_000_000, "intensity": 3, "location": "back"}
    bad = {"id": "bad-1", "recorded_at": 1_700_000_000_000, "intensity": 99, "location": "back"}
    changes = {"pain_logs": {"created": [good, bad], "updated": [], "deleted": []}}
    response = client.post(
        f"/api/v1/sync/push/?last_pulled_at={since}&schema_version=2", changes, format="json"
    )
    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()["rejected"]] == ["bad-1"]


@pytest.mark.postgres
@pytest.mark.parametrize("first", [True, False])
def test_the_batched_pull_answers_what_the_selector_answers(patient, other_patient, first):
    """The pull sent with the user's lookup is the selector's pull, refused records included,
    and names only the token's own patient."""
    from recovery.sync.selectors import sync_pull
    from tests import factories as f

    f.pain_log(other_patient)
    client = with_token(tokens_for(patient.user)["access"])
    since = pull(client).json()["timestamp"]
    f.pain_log(patient)
    _push_poison(client, since)
    last = None if first else since
    body = pull(client, last).json()
    assert body == sync_pull(patient_id=patient.pk, last_pulled_at=last, schema_version=2)
    assert [r["id"] for r in body["rejected"]] == ["bad-1"]
    assert len(body["changes"]["pain_logs"]["updated"]) == 2
    assert body["changes"]["pain_logs"]["deleted"] == ([] if first else ["bad-1"])
    others = set(PainLog._base_manager.filter(patient=other_patient).values_list("id", flat=True))
    assert others and not others & {r["id"] for r in body["changes"]["pain_logs"]["updated"]}


@pytest.mark.postgres
def test_a_staff_token_gets_no_rows_from_the_batch(patient, surgeon):
    """A clinician's token: the batch finds no patient of that user and locks nothing; the
    answer is the permission's 403, without changes."""
    from tests import factories as f

    f.pain_log(patient)
    client = with_token(tokens_for(surgeon)["access"])
    response = pull(client)
    assert response.status_code == 403, response.content
    assert "changes" not in response.json()


@pytest.mark.postgres
def test_the_batch_is_only_used_for_the_pull_it_was_sent_for(patient):
    """A batch read for one user and parameters is never the answer for another patient: the
    body checks that the clock it locked is the caller's patient's."""
    from recovery.sync.selectors import PreparedPull

    prepared = PreparedPull(
        key=patient.user.pk, by_user=True, last_pulled_at=None, schema_version=2
    )
    prepared.run()
    assert prepared.body(patient_id=patient.pk)["timestamp"] > 0
    assert prepared.body(patient_id=patient.pk + 1) is None


@pytest.mark.parametrize(
    "query",
    ["schema_version=99", "schema_version=2&last_pulled_at=nope", "last_pulled_at=null"],
)
def test_bad_parameters_are_still_a_400_after_authentication(patient, query):
    client = with_token(tokens_for(patient.user)["access"])
    response = client.get(f"/api/v1/sync/pull/?{query}")
    assert response.status_code == 400, response.content
    assert with_token("not-a-token").get(f"/api/v1/sync/pull/?{query}").status_code == 401
