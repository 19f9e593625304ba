"""The 1С import wizard (upload → what the file is and its columns → preview, checked by the
background worker while the page polls → commit, written by the worker while the page polls →
result) for the head of sales and document clerks, and the unresolved rows page for database
operators. Thin: every step is a call of otdel.sales.import_1c.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from otdel.clients import selectors as client_selectors
from otdel.core.errors import DomainError
from otdel.core.paging import page_without_count, query_without
from otdel.people.models import User
from otdel.sales import import_1c, money_selectors, policies
from otdel.sales.models import ImportKind, ImportMapping, MoneyImport, MoneyImportStatus


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _importer(request: HttpRequest) -> User:
    user = _user(request)
    if not policies.can_import_money(user):
        raise PermissionDenied(_("Only the head of sales or a document clerk imports 1С exports."))
    return user


def _job(request: HttpRequest, job_id: int) -> MoneyImport:
    user = _importer(request)
    try:
        return import_1c.job_for(job_id, user)
    except DomainError as err:
        raise Http404 from err


def _next_step(job: MoneyImport) -> HttpResponse:
    if import_1c.state_of(job) == import_1c.CHECKING:
        return redirect("sales:import_1c_preview", job_id=job.pk)
    if job.status in (MoneyImportStatus.UPLOADED, MoneyImportStatus.MAPPED):
        return redirect("sales:import_1c_mapping", job_id=job.pk)
    if job.status == MoneyImportStatus.PREVIEWED:
        return redirect("sales:import_1c_preview", job_id=job.pk)
    return redirect("sales:import_1c_result", job_id=job.pk)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@login_required
@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    """1. Upload a CSV/XLSX export of 1С and say what it holds and where it comes from."""
    user = _importer(request)
    kind = request.POST.get("kind", ImportKind.INVOICES)
    source = request.POST.get("source", "").strip() or "1c:main"
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to upload.")
        else:
            try:
                job = import_1c.start_import(upload, kind=kind, source=source, actor=user)
            except DomainError as err:
                error = err.message
            else:
                return redirect("sales:import_1c_mapping", job_id=job.pk)
    sources = sorted(set(ImportMapping.objects.values_list("source", flat=True))) or ["1c:main"]
    return render(
        request,
        "sales/import_1c_start.html",
        {
            "kinds": ImportKind.choices,
            "kind": kind,
            "source": source,
            "sources": sources,
            "error": error,
            "recent": [
                (job, import_1c.state_of(job)) for job in money_selectors.money_imports(user)[:10]
            ],
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def mapping(request: HttpRequest, job_id: int) -> HttpResponse:
    """2. Which column holds what (the mapping saved for the source, or a guess from the
    headers, is proposed); then the check of the file is queued for the background worker."""
    job = _job(request, job_id)
    if job.status == MoneyImportStatus.DONE or import_1c.state_of(job) == import_1c.CHECKING:
        return _next_step(job)
    fields = import_1c.FIELDS[job.kind]
    chosen = dict(job.columns)
    error = ""
    if request.method == "POST":
        chosen = {f: request.POST.get(f"field_{f}", "") for f in fields}
        try:
            job = import_1c.set_columns(job, chosen, actor=_user(request))
            import_1c.preview(job, actor=_user(request))
        except DomainError as err:
            error = err.message
        else:
            return redirect("sales:import_1c_preview", job_id=job.pk)
    required = set(import_1c.REQUIRED[job.kind])
    rows = [
        {"field": f, "label": str(label), "required": f in required, "header": chosen.get(f, "")}
        for f, label in fields.items()
    ]
    return render(
        request,
        "sales/import_1c_mapping.html",
        {"job": job, "rows": rows, "error": error},
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def preview(request: HttpRequest, job_id: int) -> HttpResponse:
    """3. The background worker checking the file (the page polls its progress by htmx and
    reloads when it ends), then what the import will do: new / unchanged / changed documents,
    row errors, matched and unmatched clients; then import, all or nothing."""
    job = _job(request, job_id)
    state = import_1c.state_of(job)
    if request.method == "GET" and (state == import_1c.CHECKING or _is_htmx(request)):
        context = {"job": job, "state": state, "progress": import_1c.progress_of(job)}
        if _is_htmx(request):
            response = render(request, "sales/import_1c_checking_progress.html", context)
            if state != import_1c.CHECKING:
                response["HX-Refresh"] = "true"
            return response
        return render(request, "sales/import_1c_checking.html", context)
    if job.status != MoneyImportStatus.PREVIEWED:
        return _next_step(job)
    error = ""
    if request.method == "POST":
        try:
            job = import_1c.commit(job.pk, actor=_user(request))
        except DomainError as err:
            error = err.message
        else:
            # The worker writes it; a quick one may be finished already.
            if import_1c.state_of(job) == MoneyImportStatus.DONE:
                messages.success(request, _("The export is imported."))
            return redirect("sales:import_1c_result", job_id=job.pk)
    return render(
        request,
        "sales/import_1c_preview.html",
        {"job": job, "report": job.report, "error": error},
        status=400 if error else 200,
    )


@login_required
@require_GET
def result(request: HttpRequest, job_id: int) -> HttpResponse:
    """4. The import being written by the background worker (the page polls its progress by
    htmx and reloads when it ends), then what it wrote, or why nothing was written."""
    job = _job(request, job_id)
    state = import_1c.state_of(job)
    if state not in (import_1c.IMPORTING, MoneyImportStatus.DONE, MoneyImportStatus.FAILED):
        return _next_step(job)
    context = {
        "job": job,
        "state": state,
        "report": job.report,
        "written": job.report.get("written", {}),
        "progress": import_1c.progress_of(job),
    }
    if _is_htmx(request):
        response = render(request, "sales/import_1c_progress.html", context)
        if state != import_1c.IMPORTING:
            response["HX-Refresh"] = "true"
        return response
    return render(request, "sales/import_1c_result.html", context)


# --- unresolved rows ----------------------------------------------------------------------------


def _resolver(request: HttpRequest) -> User:
    user = _user(request)
    if not policies.can_resolve_import_rows(user):
        raise PermissionDenied(
            _("Only database operators, document clerks and the head resolve import rows.")
        )
    return user


@login_required
@require_GET
def unresolved(request: HttpRequest) -> HttpResponse:
    """Rows of 1С exports whose client was not found by ИНН/КПП: pick the client, the document
    is imported. A search finds candidates (by name, ИНН, phone)."""
    user = _resolver(request)
    rows, page, has_next = page_without_count(
        request, money_selectors.unresolved_rows(user).order_by("created_at", "id")
    )
    q = request.GET.get("q", "").strip()
    candidates = list(client_selectors.search_clients(user, q=q)[:30]) if q else []
    for row in rows:
        row.candidates = candidates or list(
            client_selectors.search_clients(user, q=row.inn)[:5] if row.inn else []
        )
    return render(
        request,
        "sales/unresolved.html",
        {
            "rows": rows,
            "page": page,
            "has_next": has_next,
            "query": query_without(request, "page"),
            "q": q,
            "candidates": candidates,
        },
    )


@login_required
@require_POST
def resolve(request: HttpRequest, row_id: int) -> HttpResponse:
    """Pick the client of an unmatched row: the document is imported for it."""
    user = _resolver(request)
    if not money_selectors.unresolved_rows(user, open_only=False).filter(pk=row_id).exists():
        raise Http404
    raw = request.POST.get("client", "").strip()
    try:
        if not raw.isdigit():
            messages.error(request, _("Pick a client for the row."))
        else:
            row = import_1c.resolve_row(row_id, int(raw), actor=user)
            messages.success(
                request,
                _("Document %(number)s is imported for «%(client)s».")
                % {"number": row.external_id, "client": row.resolved_client.name},  # type: ignore[union-attr]
            )
    except DomainError as err:
        messages.error(request, err.message)
    back = request.POST.get("back", "")
    return redirect(reverse("sales:unresolved") + (f"?{back}" if back else ""))
