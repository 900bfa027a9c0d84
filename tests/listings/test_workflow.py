"""The state machine table: every allowed transition and every refused one."""

from __future__ import annotations

import pytest

from listings import workflow
from listings.models import ProductStatus, RevisionState

REVISION_CASES = [
    (name, state, state in t.sources)
    for name, t in workflow.REVISION_TRANSITIONS.items()
    for state in RevisionState.values
]
PRODUCT_CASES = [
    (name, status, status in t.sources)
    for name, t in workflow.PRODUCT_TRANSITIONS.items()
    for status in ProductStatus.values
]


@pytest.mark.parametrize(("name", "state", "allowed"), REVISION_CASES)
def test_revision_transitions(name, state, allowed):
    """Each revision transition moves from its sources to its target and refuses every other state."""
    if allowed:
        assert workflow.revision_target(name, state) == workflow.REVISION_TRANSITIONS[name].target
    else:
        with pytest.raises(workflow.InvalidTransition) as excinfo:
            workflow.revision_target(name, state)
        assert "You cannot" in excinfo.value.messages[0]


@pytest.mark.parametrize(("name", "status", "allowed"), PRODUCT_CASES)
def test_product_transitions(name, status, allowed):
    if allowed:
        assert workflow.product_target(name, status) == workflow.PRODUCT_TRANSITIONS[name].target
    else:
        with pytest.raises(workflow.InvalidTransition):
            workflow.product_target(name, status)


def test_the_lifecycle_of_the_design():
    """draft -> in review -> changes requested <-> in review -> approved, superseded later."""
    R = RevisionState
    assert workflow.revision_target("submit", R.DRAFT) == R.IN_REVIEW
    assert workflow.revision_target("request_changes", R.IN_REVIEW) == R.CHANGES_REQUESTED
    assert workflow.revision_target("submit", R.CHANGES_REQUESTED) == R.IN_REVIEW
    assert workflow.revision_target("approve", R.IN_REVIEW) == R.APPROVED
    assert workflow.revision_target("supersede", R.APPROVED) == R.SUPERSEDED


def test_approving_a_draft_says_what_is_wrong():
    with pytest.raises(workflow.InvalidTransition) as excinfo:
        workflow.revision_target("approve", RevisionState.DRAFT)
    assert excinfo.value.messages == [
        "You cannot approve a revision that is draft; only a revision that is in review can be."
    ]


@pytest.mark.parametrize("state", [s for s in RevisionState.values if s not in workflow.EDITABLE_STATES])
def test_only_drafts_and_sent_back_revisions_are_editable(state):
    with pytest.raises(workflow.InvalidTransition):
        workflow.check_editable(state)


def test_editing_in_review_explains_when_it_can_be_edited_again():
    with pytest.raises(workflow.InvalidTransition) as excinfo:
        workflow.check_editable(RevisionState.IN_REVIEW)
    assert "in review and cannot be edited" in excinfo.value.messages[0]
