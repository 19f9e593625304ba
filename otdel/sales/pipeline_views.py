"""The pipelines pages of the head of sales: his team's pipelines (default, deals in each, a new
one from the standard conveyor or a copy) and the editor of one pipeline (stages with their
roles and required brief, the matrix of allowed moves, the hours to accept a handoff). They do
not exist (404) for anyone else; every change goes through the pipeline services."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from pydantic import ValidationError

from otdel.core.errors import DomainError
from otdel.people.models import Role, User
from otdel.sales import policies, selectors, services
from otdel.sales.brief import BRIEF_FIELDS
from otdel.sales.models import Pipeline, StageKind
from otdel.sales.pipeline_document import DEFAULT_PIPELINE, STAGE_ROLES, PipelineDocument

_CODE = re.compile(r"^[a-z0-9_-]{1,40}$")


def _head(request: HttpRequest) -> User:
    user: User = request.user  # type: ignore[assignment]
    if user.team_id is None or not policies.can_edit_pipelines(user, user.team_id):
        raise Http404
    return user


def _own_pipeline(user: User, pipeline_id: int) -> Pipeline:
    pipeline = selectors.pipeline_for(user, pipeline_id)
    if not pipeline.active or not policies.can_edit_pipelines(user, pipeline.team_id):
        raise Http404
    return pipeline


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_list(request: HttpRequest) -> HttpResponse:
    """The team's pipelines with their deals; POST adds one (the standard conveyor or a copy)."""
    user = _head(request)
    error = ""
    name = ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        source = request.POST.get("source", "standard")
        try:
            if source == "standard":
                doc = DEFAULT_PIPELINE
            else:
                original = _own_pipeline(user, int(source))
                doc = selectors.pipeline_document_of(original)
            doc = PipelineDocument.model_validate(
                {**doc.model_dump(mode="json"), "name": name or doc.name}
            )
            assert user.team_id is not None
            pipeline = services.create_pipeline(user.team_id, doc, actor=user)
        except ValueError:
            error = _("Name the pipeline (up to 200 characters).")
        except DomainError as err:
            error = err.message
        else:
            messages.success(request, _("The pipeline is created; set up its stages."))
            return redirect("sales:pipeline_edit", pipeline_id=pipeline.pk)
    pipelines = list(selectors.pipelines_overview(user))
    return render(
        request,
        "sales/pipeline_list.html",
        {"pipelines": pipelines, "error": error, "name": name},
    )


@login_required
@require_POST
def pipeline_default(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    """Make the pipeline the team's default."""
    user = _head(request)
    pipeline = _own_pipeline(user, pipeline_id)
    try:
        services.set_default_pipeline(pipeline.pk, actor=user)
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, _("New deals now go to «%(name)s».") % {"name": pipeline.name})
    return redirect("sales:pipeline_list")


@login_required
@require_POST
def pipeline_archive(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    """Archive a pipeline nobody works in any more."""
    user = _head(request)
    pipeline = _own_pipeline(user, pipeline_id)
    try:
        services.archive_pipeline(pipeline.pk, actor=user)
    except DomainError as err:
        messages.error(request, err.message)
    else:
        messages.success(request, _("The pipeline is archived."))
    return redirect("sales:pipeline_list")


# --- the editor ---------------------------------------------------------------------------------


def _rows_of(doc: PipelineDocument) -> list[dict[str, Any]]:
    return [
        {
            "code": s.code,
            "name": s.name,
            "kind": s.kind,
            "roles": list(s.roles),
            "brief": list(s.brief_required),
            "position": (i + 1) * 10,
            "remove": False,
            "new": False,
            "error": "",
        }
        for i, s in enumerate(doc.stages)
    ]


def _blank_row(position: int) -> dict[str, Any]:
    return {
        "code": "",
        "name": "",
        "kind": StageKind.OPEN.value,
        "roles": [],
        "brief": [],
        "position": position,
        "remove": False,
        "new": True,
        "error": "",
    }


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _posted(request: HttpRequest) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """The form as typed: the pipeline's fields, the stage rows, the ticked moves."""
    post = request.POST
    head = {"name": post.get("name", "").strip(), "handoff_hours": post.get("handoff_hours", "")}
    rows = []
    for i in range(min(_int(post.get("stage_count", "0"), 0), 40)):
        p = f"s{i}-"
        rows.append(
            {
                "code": post.get(p + "code", "").strip().lower(),
                "name": post.get(p + "name", "").strip(),
                "kind": post.get(p + "kind", StageKind.OPEN.value),
                "roles": [r for r in post.getlist(p + "roles") if r in STAGE_ROLES],
                "brief": [f for f in post.getlist(p + "brief") if f in BRIEF_FIELDS],
                "position": _int(post.get(p + "position", ""), (i + 1) * 10),
                "remove": post.get(p + "remove") == "on",
                "new": post.get(p + "new") == "1",
                "error": "",
            }
        )
    return head, rows, set(post.getlist("moves"))


def _document(
    head: dict[str, Any], rows: list[dict[str, Any]], moves: set[str]
) -> tuple[PipelineDocument | None, str]:
    """The document the form describes, or the first mistake in the user's language (the row
    at fault gets its own message too)."""
    kept = []
    taken = {r["code"] for r in rows if not r["new"]}
    for index, row in enumerate(rows):
        if row["new"] and not row["name"] and not row["code"]:
            continue  # the empty "new stage" row
        if row["remove"]:
            continue
        if not row["name"]:
            row["error"] = _("Name the stage.")
        elif row["new"]:
            if not row["code"]:
                row["code"] = _free_code(taken)
            if not _CODE.match(row["code"]):
                row["error"] = _("Code: small Latin letters, digits, «-» and «_».")
            elif row["code"] in taken:
                row["error"] = _("This code is taken by another stage.")
            taken.add(row["code"])
        if row["kind"] not in StageKind.values:
            row["error"] = _("Choose the kind of the stage.")
        kept.append((row["position"], index, row))
    if any(r["error"] for r in rows):
        return None, _("Check the stages marked below.")
    if not head["name"]:
        return None, _("Name the pipeline.")
    hours = _int(head["handoff_hours"], 0)
    if not 1 <= hours <= 90:
        return None, _("Hours to accept a handoff: a whole number from 1 to 90.")
    ordered = [row for _pos, _i, row in sorted(kept, key=lambda k: (k[0], k[1]))]
    if len(ordered) < 2:
        return None, _("A pipeline needs at least two stages.")
    if ordered[0]["kind"] != StageKind.OPEN:
        return None, _("The first stage must be an open one: new deals start there.")
    if not any(r["kind"] == StageKind.WON for r in ordered):
        return None, _("A pipeline needs a completed stage.")
    codes = {r["code"] for r in ordered}
    pairs = []
    for move in sorted(moves):
        source, _sep, target = move.partition(">")
        if source in codes and target in codes and source != target:
            pairs.append((source, target))
    if not pairs:
        return None, _("Allow at least one move between stages.")
    try:
        doc = PipelineDocument(
            name=head["name"],
            handoff_hours=hours,
            stages=[
                {
                    "code": r["code"],
                    "name": r["name"],
                    "kind": r["kind"],
                    "roles": r["roles"],
                    "brief_required": r["brief"],
                }
                for r in ordered
            ],
            transitions=pairs,
        )
    except ValidationError:
        return None, _("Check the names: a pipeline up to 200 characters, a stage up to 100.")
    return doc, ""


def _free_code(taken: set[str]) -> str:
    n = 1
    while f"stage-{n}" in taken:
        n += 1
    return f"stage-{n}"


def _editor(
    request: HttpRequest,
    pipeline: Pipeline,
    head: dict[str, Any],
    rows: list[dict[str, Any]],
    moves: set[str],
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    counts = selectors.stage_deal_counts(pipeline)
    for row in rows:
        row["deals"] = counts.get(row["code"], 0) if not row["new"] else 0
    if not any(r["new"] for r in rows):
        rows.append(_blank_row(max((r["position"] for r in rows), default=0) + 10))
    matrix_stages = [r for r in rows if not r["new"]]
    matrix = [
        (
            source,
            [
                (target, "" if target is source else f"{source['code']}>{target['code']}")
                for target in matrix_stages
            ],
        )
        for source in matrix_stages
    ]
    return render(
        request,
        "sales/pipeline_edit.html",
        {
            "pipeline": pipeline,
            "head": head,
            "rows": rows,
            "moves": moves,
            "matrix": matrix,
            "matrix_stages": matrix_stages,
            "error": error,
            "roles": [(value, Role(value).label) for value in STAGE_ROLES],
            "brief_fields": list(BRIEF_FIELDS.items()),
            "kinds": StageKind.choices,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def pipeline_edit(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    """The editor: stages (name, kind, roles, brief required, order, remove), allowed moves,
    the hours to accept a handoff. A refusal shows its reason and keeps what was typed."""
    user = _head(request)
    pipeline = _own_pipeline(user, pipeline_id)
    if request.method == "GET":
        doc = selectors.pipeline_document_of(pipeline)
        head = {"name": doc.name, "handoff_hours": doc.handoff_hours}
        moves = {f"{a}>{b}" for a, b in doc.transitions}
        return _editor(request, pipeline, head, _rows_of(doc), moves)
    head, rows, moves = _posted(request)
    document, error = _document(head, rows, moves)
    if document is None:
        return _editor(request, pipeline, head, rows, moves, error, status=422)
    try:
        services.update_pipeline(pipeline.pk, document, actor=user)
    except DomainError as err:
        return _editor(request, pipeline, head, rows, moves, err.message, status=err.status)
    messages.success(request, _("The pipeline is saved."))
    return redirect("sales:pipeline_edit", pipeline_id=pipeline.pk)
