"""The FHIR export answers what a FHIR client asks for (issue 19 item 7): the Bundle is
``application/fhir+json`` for an ``Accept`` of ``application/fhir+json``, ``application/json``,
a wildcard or none; errors stay ``application/json`` in the one error shape; and the OpenAPI
schema says so."""

import json

import pytest

from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

ACCEPTED = [
    None,
    "application/fhir+json",
    "application/fhir+json; fhirVersion=4.0",
    "application/json",
    "*/*",
    "application/*",
    "application/fhir+json, application/json;q=0.9, */*;q=0.1",
    "text/html, application/fhir+json;q=0.5",
]


def _get(client, url, accept):
    return client.get(url, **({"HTTP_ACCEPT": accept} if accept is not None else {}))


@pytest.fixture
def urls(patient):
    return {"me": "/api/v1/me/fhir/", "patient": f"/api/v1/patients/{patient.pk}/fhir/"}


@pytest.mark.parametrize("accept", ACCEPTED)
@pytest.mark.parametrize("who", ["me", "patient"])
def test_the_bundle_is_fhir_json_for_every_accept_that_takes_it(
    api, patient, surgeon, urls, who, accept
):
    client = api(patient.user if who == "me" else surgeon)
    response = _get(client, urls[who], accept)
    assert response.status_code == 200, getattr(response, "content", b"")
    assert response["Content-Type"] == "application/fhir+json"
    bundle = json.loads(b"".join(response.streaming_content))
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    assert any(e["resource"]["resourceType"] == "Patient" for e in bundle["entry"])


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/fhir+xml"])
@pytest.mark.parametrize("who", ["me", "patient"])
def test_an_accept_without_json_is_a_406_in_the_error_shape(
    api, patient, surgeon, urls, who, accept
):
    response = _get(api(patient.user if who == "me" else surgeon), urls[who], accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["code"] == "not_acceptable"


@pytest.mark.parametrize("accept", [None, "application/fhir+json", "application/json"])
def test_errors_stay_application_json(api, patient, surgeon, clinic, accept):
    other = PatientFactory(clinic=clinic)  # outside the surgeon's care team
    checks = [
        (api(surgeon), f"/api/v1/patients/{other.pk}/fhir/", 404, "not_found"),
        (api(surgeon), "/api/v1/me/fhir/", 403, "permission_denied"),
        (api(None), "/api/v1/me/fhir/", 401, "not_authenticated"),
    ]
    for client, url, status, code in checks:
        response = _get(client, url, accept)
        assert (response.status_code, response["Content-Type"]) == (status, "application/json")
        assert response.json()["errors"][0]["code"] == code


def test_the_schema_declares_fhir_json_for_the_bundle_and_json_for_errors(api, patient):
    schema = api(patient.user).get("/api/schema/?format=json").json()
    for path in ("/api/v1/me/fhir/", "/api/v1/patients/{patient_id}/fhir/"):
        responses = schema["paths"][path]["get"]["responses"]
        assert list(responses["200"]["content"]) == ["application/fhir+json"]
        assert list(responses["406"]["content"]) == ["application/json"]
        assert list(responses["401"]["content"]) == ["application/json"]
