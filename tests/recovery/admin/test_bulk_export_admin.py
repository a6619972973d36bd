"""The Bulk Data export jobs in the admin: a read-only list for clinic admins, their clinic's
jobs only; clinicians do not see the page."""

import pytest

from recovery.fhir.models import BulkExportJob

pytestmark = pytest.mark.django_db

LIST = "/admin/recovery/bulkexportjob/"


@pytest.fixture
def jobs(clinic_admin, foreign_clinic_admin):
    def job(user):
        return BulkExportJob.objects.create(
            clinic_id=user.clinic_id,
            requested_by=user,
            level="system",
            types=["Patient"],
            request_url="http://testserver/api/v1/fhir/$export?_type=Patient",
        )

    return job(clinic_admin), job(foreign_clinic_admin)


def test_clinic_admin_lists_their_clinics_exports_read_only(client, clinic_admin, jobs):
    mine, theirs = jobs
    client.force_login(clinic_admin)
    listing = client.get(LIST)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert f"{LIST}{mine.pk}/change/" in html and f"{LIST}{theirs.pk}/change/" not in html
    assert "0 of 0 patients" in html
    page = client.get(f"{LIST}{mine.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(f"{LIST}{theirs.pk}/change/").status_code == 404
    assert client.get(f"{LIST}add/").status_code == 403
    assert client.post(f"{LIST}{mine.pk}/delete/", {"post": "yes"}).status_code == 403
    assert BulkExportJob.objects.count() == 2


@pytest.mark.parametrize("role", ["surgeon", "nurse"])
def test_clinicians_do_not_see_exports(client, jobs, role, request):
    client.force_login(request.getfixturevalue(role))
    assert client.get(LIST).status_code == 403
    assert "bulkexportjob" not in client.get("/admin/").content.decode()
