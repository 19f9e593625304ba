"""Thin views of the import wizard: parse the request, call the import services, render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from otdel.clients.importer import services
from otdel.clients.importer.mapping import FIELDS
from otdel.clients.models_import import ImportJob, ImportStatus, OwnerMode
from otdel.core.errors import DomainError, NotFound


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    try:
        return services.job_for(job_id, request.user)  # type: ignore[arg-type]
    except NotFound as err:
        raise Http404(err.message) from None


def _next_page(job: ImportJob) -> str:
    if job.status in (ImportStatus.UPLOADED, ImportStatus.MAPPED):
        return reverse("clients_import:mapping", args=[job.pk])
    if job.status in (ImportStatus.CHECKING, ImportStatus.PREVIEWED):
        return reverse("clients_import:preview", args=[job.pk])
    return reverse("clients_import:status", args=[job.pk])


@login_required
@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    """Upload a CSV or XLSX file; recent imports are listed below the form."""
    user = request.user
    if not services.can_import(user):  # type: ignore[arg-type]
        raise PermissionDenied(_("Only the head of sales or a database operator imports clients."))
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            messages.error(request, _("Choose a file to upload."))
        else:
            try:
                job = services.start_import(upload, actor=user)  # type: ignore[arg-type]
            except DomainError as err:
                messages.error(request, err.message)
            else:
                return redirect("clients_import:mapping", job_id=job.pk)
    recent = ImportJob.objects.filter(created_by=user).order_by("-created_at")[:10]
    return render(request, "clients/import_start.html", {"recent": recent})


@login_required
@require_http_methods(["GET", "POST"])
def mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    """Confirm which column holds what, and where owners come from; then check the file."""
    job = _job(request, job_id)
    if job.status not in (ImportStatus.UPLOADED, ImportStatus.MAPPED, ImportStatus.PREVIEWED):
        return redirect(_next_page(job))
    if request.method == "GET" and job.failure and job.status == ImportStatus.MAPPED:
        messages.error(request, job.failure)
    chosen = list(job.mapping)
    owner_mode = job.owner_mode
    if request.method == "POST":
        chosen = [request.POST.get(f"col_{i}", "") for i in range(len(job.headers))]
        owner_mode = request.POST.get("owner_mode", OwnerMode.POOL)
        try:
            services.set_mapping(job, chosen, owner_mode)
            services.request_preview(job)
        except DomainError as err:
            messages.error(request, err.message)
        else:
            return redirect("clients_import:preview", job_id=job.pk)
    columns = [
        {"index": i, "header": h, "field": chosen[i] if i < len(chosen) else ""}
        for i, h in enumerate(job.headers)
    ]
    return render(
        request,
        "clients/import_mapping.html",
        {
            "job": job,
            "columns": columns,
            "fields": [(k, str(v)) for k, v in FIELDS.items()],
            "owner_mode": owner_mode,
            "owner_modes": OwnerMode.choices,
            "earlier": services.earlier_imports(job),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, job_id: int) -> HttpResponse:
    """What the import will do: counts, row errors, duplicates, warnings; then import."""
    job = _job(request, job_id)
    if job.status == ImportStatus.CHECKING:
        return render(
            request,
            "clients/import_checking.html",
            {"job": job, "progress": services.progress_of(job)},
        )
    if job.status != ImportStatus.PREVIEWED:
        return redirect(_next_page(job))
    if request.method == "POST":
        try:
            services.commit_import(
                job,
                actor=request.user,  # type: ignore[arg-type]
                skip_invalid=request.POST.get("skip_invalid") == "on",
            )
        except DomainError as err:
            messages.error(request, err.message)
        else:
            return redirect("clients_import:status", job_id=job.pk)
    return render(
        request,
        "clients/import_preview.html",
        {"job": job, "earlier": services.earlier_imports(job)},
    )


@login_required
def status(request: HttpRequest, job_id: int) -> HttpResponse:
    """The import's progress (polled every second while it runs) and its outcome."""
    job = _job(request, job_id)
    if job.status in (ImportStatus.UPLOADED, ImportStatus.MAPPED, ImportStatus.PREVIEWED):
        return redirect(_next_page(job))
    return render(
        request,
        "clients/import_status.html",
        {"job": job, "progress": services.progress_of(job)},
    )


@login_required
def progress(request: HttpRequest, job_id: int) -> HttpResponse:
    """The progress fragment; once the import ends, htmx reloads the whole status page."""
    job = _job(request, job_id)
    response = render(
        request,
        "clients/_import_progress.html",
        {"job": job, "progress": services.progress_of(job)},
    )
    if job.is_finished and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


@login_required
def checking(request: HttpRequest, job_id: int) -> HttpResponse:
    """Rows checked so far; once the check ends, htmx reloads the preview page."""
    job = _job(request, job_id)
    response = render(
        request,
        "clients/_import_checking.html",
        {"job": job, "progress": services.progress_of(job)},
    )
    if job.status != ImportStatus.CHECKING and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response
