"""Cohorts: mentors create and manage them, scholars join by invite link or code.

Routes and roles:
  GET  /cohorts                              logged in: mentors all cohorts + create form,
                                             scholars their cohorts + join-by-code form
  POST /cohorts                              mentors: create a cohort
  GET  /cohorts/join                         anyone: redirect to /cohorts (the code form)
  POST /cohorts/join                         scholars: join by a typed code
  GET  /cohorts/join/<code>                  logged in: confirmation page (anonymous: log in first)
  POST /cohorts/join/<code>                  scholars: join
  GET  /cohorts/<slug>                       mentors: members, invite link, controls
  POST /cohorts/<slug>/code                  mentors: regenerate the invite code
  POST /cohorts/<slug>/visibility            mentors: cohort leaderboard private or not
  POST /cohorts/<slug>/members/<id>/remove   mentors: remove a member
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..community import cohorts as service
from ..access.visibility import viewer_is_mentor
from ..access.roles import mentor_required
from ..errors import error_response
from ..models import Cohort

bp = Blueprint("cohorts", __name__, url_prefix=None)


def _cohort_or_404(slug: str) -> Cohort:
    cohort = service.by_slug(slug)
    if cohort is None:
        abort(404, "No such cohort.")
    return cohort


def _code_or_404(code: str) -> Cohort:
    cohort = service.by_code(code)
    if cohort is None:
        abort(404, "No cohort has this invite code. It may have been replaced by a new one: "
                   "ask your mentor for the current link.")
    return cohort


def _index(status: int = 200, error: str | None = None, form: dict | None = None):
    mentor = viewer_is_mentor()
    return render_template(
        "cohorts/index.html", mentor=mentor, error=error, form=form or {},
        cohorts=service.all_with_counts() if mentor else [],
        mine=[] if mentor else service.of_user(current_user.id),
    ), status


@bp.get("/cohorts")
@login_required
def index():
    return _index()


@bp.post("/cohorts")
@mentor_required
def create():
    form = request.form
    try:
        cohort = service.create(form.get("name"), form.get("slug"), form.get("private") == "1",
                                current_user)
    except service.CohortError as exc:
        return _index(exc.status, exc.message, form.to_dict())
    flash(f"Cohort {cohort.name} created. Share its invite link with your scholars.", "success")
    return redirect(url_for("cohorts.show", slug=cohort.slug), 303)


def _join(cohort: Cohort):
    try:
        service.join(cohort, current_user)
    except service.CohortError as exc:
        return error_response(exc.status, exc.message)
    flash(f"You joined {cohort.name}.", "success")
    return redirect(url_for("cohorts.index"), 303)


@bp.get("/cohorts/join")
def join_form():
    """The join-by-code form lives on the cohorts page."""
    return redirect(url_for("cohorts.index"))


@bp.post("/cohorts/join")
@login_required
def join_by_code():
    code = service.normalize_code(request.form.get("code"))
    if not code:
        return _index(400, "Type the invite code your mentor gave you.")
    return _join(_code_or_404(code))


@bp.route("/cohorts/join/<code>", methods=["GET", "POST"])
def join(code: str):
    """An invite link: GET confirms (so a link preview never joins anyone), POST joins."""
    if not current_user.is_authenticated:
        if request.method == "GET":
            return redirect(url_for("accounts.login", next=request.path))
        abort(401, "Log in first.")
    cohort = _code_or_404(code)
    if request.method == "POST":
        return _join(cohort)
    return render_template("cohorts/join.html", cohort=cohort, code=code,
                           member=service.is_member(cohort.id, current_user.id),
                           mentor=viewer_is_mentor())


@bp.get("/cohorts/<slug>")
@mentor_required
def show(slug: str):
    cohort = _cohort_or_404(slug)
    return render_template(
        "cohorts/show.html", cohort=cohort, members=service.members(cohort),
        invite_url=url_for("cohorts.join", code=cohort.invite_code, _external=True))


@bp.post("/cohorts/<slug>/code")
@mentor_required
def regenerate(slug: str):
    cohort = _cohort_or_404(slug)
    service.regenerate_code(cohort)
    flash("New invite code made; the old link and code no longer work.", "success")
    return redirect(url_for("cohorts.show", slug=slug), 303)


@bp.post("/cohorts/<slug>/visibility")
@mentor_required
def visibility(slug: str):
    cohort = _cohort_or_404(slug)
    private = request.form.get("private") == "1"
    service.set_private(cohort, private)
    flash(f"The cohort leaderboard is now {'private to members and mentors' if private else 'public'}.",
          "success")
    return redirect(url_for("cohorts.show", slug=slug), 303)


@bp.post("/cohorts/<slug>/members/<int:user_id>/remove")
@mentor_required
def remove(slug: str, user_id: int):
    cohort = _cohort_or_404(slug)
    try:
        user = service.remove_member(cohort, user_id)
    except service.CohortError as exc:
        abort(exc.status, exc.message)
    flash(f"{user.display_name} was removed from {cohort.name}.", "success")
    return redirect(url_for("cohorts.show", slug=slug), 303)
