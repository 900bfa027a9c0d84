"""The listing state machine: every allowed transition, in one place.

Forms, the API and the admin all reach these through ``listings.services``; a transition not in the
tables below is refused with ``InvalidTransition`` (a ValidationError, so forms and the API show
its message as they show any other bad input).

Revisions: draft -> in review -> (approved | changes requested | rejected); changes requested ->
in review again; approved -> superseded when a newer revision goes live.
Products: never published -> published (a revision approved); published -> unpublished by the
publisher, -> on hold by moderators; on hold -> published (hold lifted) or revoked.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from listings.models import ProductStatus, RevisionState


class InvalidTransition(ValidationError):
    pass


@dataclass(frozen=True)
class Transition:
    name: str
    verb: str
    sources: frozenset[str]
    target: str


def _t(name: str, verb: str, sources: set[str], target: str) -> Transition:
    return Transition(name=name, verb=verb, sources=frozenset(sources), target=target)


R = RevisionState
P = ProductStatus

REVISION_TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        _t("submit", "submit", {R.DRAFT, R.CHANGES_REQUESTED}, R.IN_REVIEW),
        _t("approve", "approve", {R.IN_REVIEW}, R.APPROVED),
        _t("request_changes", "request changes to", {R.IN_REVIEW}, R.CHANGES_REQUESTED),
        _t("reject", "reject", {R.IN_REVIEW}, R.REJECTED),
        _t("supersede", "supersede", {R.APPROVED}, R.SUPERSEDED),
    ]
}

PRODUCT_TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        _t("publish", "publish", {P.DRAFT, P.PUBLISHED, P.UNPUBLISHED}, P.PUBLISHED),
        _t("unpublish", "unpublish", {P.PUBLISHED}, P.UNPUBLISHED),
        _t("hold", "put on hold", {P.PUBLISHED}, P.ON_HOLD),
        _t("lift_hold", "lift the hold on", {P.ON_HOLD}, P.PUBLISHED),
        _t("revoke", "revoke", {P.ON_HOLD}, P.REVOKED),
    ]
}

# Publishers may change a revision only in these states; the others are frozen for review or history.
EDITABLE_STATES = frozenset({R.DRAFT, R.CHANGES_REQUESTED})


def _refuse(transition: Transition, state_label: str, noun: str, allowed: list[str]) -> InvalidTransition:
    allowed_text = " or ".join(allowed)
    return InvalidTransition(
        f"You cannot {transition.verb} a {noun} that is {state_label.lower()}; "
        f"only a {noun} that is {allowed_text.lower()} can be.",
        code="invalid_transition",
    )


def revision_target(name: str, state: str) -> str:
    """The state a revision in ``state`` moves to by ``name``; InvalidTransition if not allowed."""
    transition = REVISION_TRANSITIONS[name]
    if state not in transition.sources:
        allowed = [R(s).label for s in sorted(transition.sources)]
        raise _refuse(transition, R(state).label, "revision", allowed)
    return transition.target


def product_target(name: str, status: str) -> str:
    transition = PRODUCT_TRANSITIONS[name]
    if status not in transition.sources:
        allowed = [P(s).label for s in sorted(transition.sources)]
        raise _refuse(transition, P(status).label, "product", allowed)
    return transition.target


def check_editable(state: str) -> None:
    if state not in EDITABLE_STATES:
        if state == R.IN_REVIEW:
            message = (
                "This revision is in review and cannot be edited; you can change it again once the "
                "moderators have decided, or when they ask for changes."
            )
        else:
            message = f"A revision that is {R(state).label.lower()} cannot be edited."
        raise InvalidTransition(message, code="not_editable")


def allowed_revision_transitions(state: str) -> list[str]:
    return [t.name for t in REVISION_TRANSITIONS.values() if state in t.sources]
