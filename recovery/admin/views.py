"""The admin's own pages: the patient timeline and the care team's dashboard (the index).
Thin and read-only.

The timeline looks the patient up through the caller's scope (another patient is a 404),
validates the filters, calls the timeline selectors, writes one PHI access row and renders. The
dashboard reads the caller's scope (``recovery.admin.dashboard``) and logs every patient it
names.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.paginator import Paginator
from django.http import Http404
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from accounts.audit import phi_access_record
from accounts.selectors import patients_for
from recovery.activity.selectors import steps_curve

from .chart import pain_chart_svg, steps_chart_svg
from .dashboard import care_dashboard
from .timeline import alert_lines, patient_today, timeline_for_patient, timeline_header
from .timeline.care_sources import care_summary
from .timeline.events import DEFAULT_WINDOW_DAYS, event_types

EVENTS_PER_PAGE = 100
PERIODS = [
    ("30", "Last 30 days"),
    ("90", "Last 90 days"),
    ("365", "Last year"),
    ("all", "Everything"),
    ("custom", "From / to below"),
]


class TimelineFilterForm(forms.Form):
    period = forms.ChoiceField(choices=PERIODS, required=False)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    types = forms.MultipleChoiceField(
        choices=event_types, required=False, widget=forms.CheckboxSelectMultiple
    )
    order = forms.ChoiceField(
        choices=[("newest", "Newest first"), ("oldest", "Oldest first")], required=False
    )
    page = forms.IntegerField(required=False, min_value=1)

    def window(self, today):
        """``(since, until)`` in the patient's local days; ``since`` None means everything."""
        data = self.cleaned_data if self.is_valid() else {}
        period = data.get("period") or ""
        until = data.get("until") if period == "custom" or not period else None
        until = until or today
        if period == "all":
            return None, until
        if period in ("30", "90", "365"):
            return until - timedelta(days=int(period) - 1), until
        since = data.get("since")
        if since is None:
            since = until - timedelta(days=DEFAULT_WINDOW_DAYS - 1)
        if since > until:
            since, until = until, since
        return since, until


@require_safe
def patient_timeline_view(request, patient_id: int):
    patient = (
        patients_for(request.user).select_related("user", "surgeon").filter(pk=patient_id).first()
    )
    if patient is None:
        raise Http404("No such patient.")
    form = TimelineFilterForm(request.GET or None)
    today = patient_today(patient)
    since, until = form.window(today)
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    types = data.get("types") or None
    timeline = timeline_for_patient(
        patient=patient,
        since=since,
        until=until,
        types=types,
        newest_first=(data.get("order") or "newest") == "newest",
    )
    header = timeline_header(patient=patient)
    care = care_summary(patient=patient, today=header.today)
    alerts = alert_lines(care.open_alerts)
    page = Paginator(timeline.events, EVENTS_PER_PAGE).get_page(data.get("page") or 1)
    chart = pain_chart_svg(
        pain_days=timeline.pain_days,
        trend=timeline.trend,
        since=since,
        until=until,
        surgeries=timeline.surgeries,
        appointments=timeline.appointments,
    )
    steps = steps_curve(patient=patient, surgery=header.surgery, since=since, until=until)
    steps_chart = steps_chart_svg(curve=steps, since=since, until=until)
    phi_access_record(
        user=request.user,
        patient_ids=[patient.pk],
        action="timeline",
        resource="timeline",
        request=request,
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        **admin.site.each_context(request),
        "title": f"Recovery timeline: {patient.user.full_name or patient.user.email}",
        "subtitle": None,
        "patient": patient,
        "header": header,
        "care": care,
        "alert_lines": alerts,
        "timeline": timeline,
        "since": since,
        "until": until,
        "page_obj": page,
        "chart": chart,
        "steps": steps,
        "steps_chart": steps_chart,
        "form": form if form.is_bound else TimelineFilterForm(initial={"period": "90"}),
        "query_without_page": query.urlencode(),
        "opts": patient._meta,
        "has_view_permission": True,
    }
    return TemplateResponse(request, "admin/recovery/timeline.html", context)


@require_safe
def care_dashboard_view(request, site, extra_context=None):
    """``/admin/``: what needs the care team now (``RealignAdminSite.dashboard_view``)."""
    dashboard = care_dashboard(user=request.user)
    phi_access_record(
        user=request.user,
        patient_ids=dashboard.patient_ids(),
        action="admin_dashboard",
        resource="dashboard",
        request=request,
    )
    request.current_app = site.name
    context = {
        **site.each_context(request),
        "title": site.index_title,
        "subtitle": None,
        "dashboard": dashboard,
        **(extra_context or {}),
    }
    return TemplateResponse(request, "admin/recovery/dashboard.html", context)
