"""The dashboard's home (what needs attention first, then the figures), Health and Activity."""
from __future__ import annotations

from flask import render_template, request

from . import activity, health, payment_search, payments_queue, stats
from .blueprint import bp

ACTIVITY_PAGE = 50


@bp.get("/")
def home():
    figures = stats.figures()
    return render_template("staff/home.html", attention=payments_queue.needing_attention(),
                           in_progress=payments_queue.in_progress_count(), figures=figures,
                           bars=stats.chart_bars(figures.daily))


@bp.get("/health")
def health_page():
    return render_template("staff/health.html", checks=health.run_checks(),
                           last_run=health.reconcile_summary())


@bp.get("/activity")
def activity_page():
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), payment_search.LAST_PAGE)
    total = activity.count()
    return render_template("staff/activity.html",
                           rows=activity.recent(ACTIVITY_PAGE, (page - 1) * ACTIVITY_PAGE),
                           page=page, pages=max((total + ACTIVITY_PAGE - 1) // ACTIVITY_PAGE, 1))
