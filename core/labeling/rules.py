"""Who may do what to a labeling task, and which state each step needs (F186, F192-F198).

Pure functions over the rows: the service calls one `require_*` before every change, so a page
that hides a button and an API call that skips the page meet the same rule. Someone outside
the task gets NotFound (a task is private to its participants); a participant without the
role gets PermissionDenied (403); a role in the wrong state gets Conflict (409), with what is
allowed now. After the creator ends the task, or past its expiry date, nothing changes.
"""

from __future__ import annotations

from datetime import datetime, timezone

from core.errors import Conflict, NotFound, PermissionDenied
from core.labeling.models import LabelSubTaskRow, LabelTaskRow

#: a sub-task's life: labeling (its annotator works) -> submitted -> approved; a reviewer's
#: "has_errors" or "rejected" sends it back to labeling (next round); without review a
#: submission is final ("done")
SUBTASK_STATES = ("unassigned", "labeling", "submitted", "approved", "done")
VERDICTS = ("has_errors", "rejected", "approved")
CREATOR, ANNOTATOR, REVIEWER = "creator", "annotator", "reviewer"


def roles(task: LabelTaskRow, user: str) -> set[str]:
    out = set()
    if task.owner == user:
        out.add(CREATOR)
    if user in (task.annotators or []) or (task.mode == "personal" and task.owner == user):
        out.add(ANNOTATOR)
    if task.review and user in (task.reviewers or []):
        out.add(REVIEWER)
    return out


def require_participant(task: LabelTaskRow, user: str) -> set[str]:
    got = roles(task, user)
    if not got:
        raise NotFound(f"no labeling task '{task.name}'", field="task", fix="see your labeling tasks")
    return got


def require_creator(task: LabelTaskRow, user: str, action: str) -> None:
    require_participant(task, user)
    if task.owner != user:
        raise PermissionDenied(f"only the task's creator ({task.owner}) may {action}", field="task")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def expired(task: LabelTaskRow, now: datetime | None = None) -> bool:
    return task.expires_at is not None and _aware(task.expires_at) <= (now or datetime.now(timezone.utc))


def require_open(task: LabelTaskRow) -> None:
    """The task accepts changes from annotators and reviewers."""
    if task.state == "ended":
        when = _aware(task.ended_at).strftime("%Y-%m-%d %H:%M UTC") if task.ended_at else "earlier"
        raise PermissionDenied(f"task '{task.name}' was ended by {task.ended_by or task.owner} ({when}); "
                               "nothing in it can be changed any more", field="task")
    if expired(task):
        raise PermissionDenied(f"task '{task.name}' expired on {_aware(task.expires_at).date()}; "  # type: ignore[arg-type]
                               "nothing in it can be changed any more", field="task",
                               fix="ask the creator to end it and start a new task for the rest")
    if task.state != "ready":
        raise Conflict(f"task '{task.name}' is {task.state}" + (f": {task.message}" if task.message else ""),
                       field="task", state=task.state, allowed=[],
                       fix="wait until its creation has finished" if task.state == "creating" else None)


def require_annotator_of(task: LabelTaskRow, sub: LabelSubTaskRow, user: str) -> None:
    """Change items of this sub-task: only its annotator, only while it is being labeled."""
    got = require_participant(task, user)
    if sub.annotator != user:
        who = sub.annotator or "nobody yet"
        raise PermissionDenied(f"sub-task {sub.number} is assigned to {who}, not to you", field="subtask",
                               fix="label your own sub-tasks" if ANNOTATOR in got else
                               "only the sub-task's annotator may label it")
    require_open(task)
    if sub.state != "labeling":
        raise Conflict(f"sub-task {sub.number} is {sub.state}", field="subtask", state=sub.state,
                       allowed=["view"], fix="wait for the review's verdict" if sub.state == "submitted" else None)


def require_reviewer_of(task: LabelTaskRow, sub: LabelSubTaskRow, user: str) -> None:
    got = require_participant(task, user)
    if REVIEWER not in got:
        raise PermissionDenied("you are not a reviewer of this task" if task.review else
                               "this task has no review step", field="subtask",
                               fix="only the task's reviewers may review")
    require_open(task)
    if sub.state != "submitted":
        raise Conflict(f"sub-task {sub.number} is {sub.state}, not submitted", field="subtask",
                       state=sub.state, allowed=["view"])


def may_view_subtask(task: LabelTaskRow, sub: LabelSubTaskRow, user: str) -> bool:
    got = roles(task, user)
    if CREATOR in got:
        return True
    if ANNOTATOR in got and sub.annotator == user:
        return True
    # Reviewers see what was handed to them: submitted work and work they already judged.
    return REVIEWER in got and (sub.state in ("submitted", "approved") or sub.round > 1)


def operations(task: LabelTaskRow, user: str) -> list[str]:
    """What the user may do to the task now (the page's buttons; the API checks again)."""
    got = roles(task, user)
    ops = ["view"] if got else []
    if CREATOR in got:
        if task.state == "ended":
            ops += ["export", "publish", "delete"]
        else:
            ops += ["modify", "end", "delete"] + (["export", "publish"] if task.state == "ready" else [])
            if task.mode == "collaborative" and task.state == "ready":
                ops.append("reassign")
    if task.state == "ready" and not expired(task):
        if ANNOTATOR in got:
            ops += ["label", "submit"]
        if REVIEWER in got:
            ops.append("review")
    return ops
