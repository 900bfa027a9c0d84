"""Publisher pages: onboarding, dashboard, profile, members and invitations.

Every page that shows or changes a publisher looks it up with ``get_publisher_for_member``:
outsiders get 404, members below the role a page needs get 403.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from publishers import selectors, services
from publishers.forms import (
    BaseInvitationFormSet,
    InvitationForm,
    InvitationFormSet,
    MemberRoleForm,
    PublisherEditForm,
    PublisherProfileForm,
    PublisherSupportForm,
)
from publishers.models import OnboardingStep, Publisher, Role
from publishers.selectors import get_publisher_for_member

View = Callable[..., HttpResponse]


def verified_email_required(view: View) -> View:
    """Publishers are created only by people whose email address is confirmed."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _user(request).email_verified:
            messages.error(request, "Verify your email address before creating a publisher.")
            return redirect("accounts:account")
        return view(request, *args, **kwargs)

    return wrapper


def _user(request: HttpRequest) -> User:
    # Every view here is behind login_required.
    assert isinstance(request.user, User)
    return request.user


def _role(publisher: Publisher) -> Role:
    return publisher.membership.role_enum  # type: ignore[attr-defined]


def _onboarding_context(publisher: Publisher | None, step: OnboardingStep) -> dict[str, Any]:
    return {"publisher": publisher, "step": step, "steps": OnboardingStep}


@login_required
@verified_email_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    """Onboarding step 1: the company profile; creates the publisher with the user as owner."""
    form = PublisherProfileForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            publisher = services.publisher_create(actor=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{publisher.namespace} is yours. Next: how customers get support.")
            return redirect(publisher.get_onboarding_url())
    context = _onboarding_context(None, OnboardingStep.PROFILE)
    context.update(form=form, unfinished=selectors.publishers_in_onboarding(request.user))
    return render(request, "publishers/onboarding_profile.html", context)


@login_required
@require_GET
def onboarding(request: HttpRequest, namespace: str) -> HttpResponse:
    """Back to the step the person left the onboarding form on."""
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    if publisher.is_onboarded:
        return redirect(publisher)
    return redirect(publisher.get_onboarding_url())


@login_required
@require_http_methods(["GET", "POST"])
def onboarding_support(request: HttpRequest, namespace: str) -> HttpResponse:
    """Onboarding step 2: support website, email, self-help links and the SLA."""
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    if publisher.is_onboarded:
        return redirect("publishers:profile", publisher.namespace)
    form = PublisherSupportForm(request.POST or None, instance=copy.copy(publisher))
    if request.method == "POST" and form.is_valid():
        try:
            services.onboarding_support_save(publisher=publisher, actor=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect("publishers:onboarding_members", publisher.namespace)
    context = _onboarding_context(publisher, OnboardingStep.SUPPORT)
    context["form"] = form
    return render(request, "publishers/onboarding_support.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def onboarding_members(request: HttpRequest, namespace: str) -> HttpResponse:
    """Onboarding step 3: invite zero or more members, then finish."""
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    if publisher.is_onboarded:
        return redirect("publishers:members", publisher.namespace)
    formset: BaseInvitationFormSet = InvitationFormSet(  # type: ignore[assignment]
        request.POST or None, form_kwargs={"publisher": publisher, "actor_role": _role(publisher)}
    )
    if request.method == "POST" and formset.is_valid():
        finish = request.POST.get("action") != "invite"
        try:
            sent = services.onboarding_members_submit(
                publisher=publisher,
                actor=_user(request),
                invitations=formset.invitations,
                finish=finish,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            if sent:
                messages.success(request, f"Invitations sent to {', '.join(i.email for i in sent)}.")
            if finish:
                messages.success(
                    request, f"Onboarding complete: welcome to the store, {publisher.legal_name}."
                )
                return redirect(publisher)
            return redirect("publishers:onboarding_members", publisher.namespace)
    context = _onboarding_context(publisher, OnboardingStep.MEMBERS)
    context.update(formset=formset, invitations=selectors.pending_invitations_of(publisher))
    return render(request, "publishers/onboarding_members.html", context)


@login_required
@require_GET
def dashboard(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace)
    return render(
        request,
        "publishers/dashboard.html",
        {
            "publisher": publisher,
            "role": _role(publisher),
            "can_manage": _role(publisher).at_least(Role.ADMIN),
            "memberships": selectors.memberships_of(publisher),
            "invitations": selectors.pending_invitations_of(publisher),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest, namespace: str) -> HttpResponse:
    """Edit the profile and support details (admin+). A failed edit changes nothing stored."""
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    form = PublisherEditForm(request.POST or None, request.FILES or None, instance=copy.copy(publisher))
    if request.method == "POST" and form.is_valid():
        try:
            services.publisher_update_profile(publisher=publisher, actor=_user(request), **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect(publisher)
    return render(request, "publishers/profile.html", {"publisher": publisher, "form": form})


def _members_page(
    request: HttpRequest, publisher: Publisher, invite_form: InvitationForm | None = None
) -> HttpResponse:
    role = _role(publisher)
    can_manage = role.at_least(Role.ADMIN)
    if can_manage and invite_form is None:
        invite_form = InvitationForm(publisher=publisher, actor_role=role)
    return render(
        request,
        "publishers/members.html",
        {
            "publisher": publisher,
            "role": role,
            "can_manage": can_manage,
            "is_owner": role == Role.OWNER,
            "memberships": selectors.memberships_of(publisher),
            "invitations": selectors.pending_invitations_of(publisher),
            "invite_form": invite_form,
            "role_form": MemberRoleForm(actor_role=role),
        },
    )


@login_required
@require_GET
def members(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace)
    return _members_page(request, publisher)


@login_required
@require_POST
def member_role(request: HttpRequest, namespace: str, membership_id: int) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    membership = selectors.get_membership(publisher, membership_id)
    form = MemberRoleForm(request.POST, actor_role=_role(publisher))
    if not form.is_valid():
        messages.error(
            request, f"{membership.user.email}: " + " ".join(str(error) for error in form.errors["role"])
        )
        return redirect("publishers:members", publisher.namespace)
    try:
        services.member_change_role(
            membership=membership, actor=_user(request), role=Role(form.cleaned_data["role"])
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"{membership.user.email} is now {Role(form.cleaned_data['role']).label.lower()}."
        )
    return redirect("publishers:members", publisher.namespace)


@login_required
@require_POST
def member_remove(request: HttpRequest, namespace: str, membership_id: int) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    membership = selectors.get_membership(publisher, membership_id)
    try:
        services.member_remove(membership=membership, actor=_user(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.email} no longer belongs to {publisher.namespace}.")
    return redirect("publishers:members", publisher.namespace)


@login_required
@require_POST
def invite(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    form = InvitationForm(request.POST, publisher=publisher, actor_role=_role(publisher))
    if form.is_valid():
        try:
            invitation, _token = services.member_invite(
                publisher=publisher,
                actor=_user(request),
                email=form.cleaned_data["email"],
                role=Role(form.cleaned_data["role"]),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            return redirect("publishers:members", publisher.namespace)
    return _members_page(request, publisher, invite_form=form)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, namespace: str, invitation_id: int) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.ADMIN)
    invitation = selectors.get_pending_invitation(publisher, invitation_id)
    services.invitation_revoke(invitation=invitation, actor=_user(request))
    messages.success(request, f"The invitation to {invitation.email} was revoked.")
    return redirect("publishers:members", publisher.namespace)


@login_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The link from the invitation email. Opening it changes nothing; the button accepts."""
    invitation = selectors.invitation_by_token(token)
    problem = services.invitation_problem(invitation=invitation, user=_user(request))
    if request.method == "POST" and problem is None:
        try:
            membership = services.invitation_accept(token=token, user=_user(request))
        except ValidationError as exc:
            problem = " ".join(exc.messages)
        else:
            messages.success(request, f"Welcome to {membership.publisher.legal_name}.")
            return redirect(membership.publisher)
    return render(
        request,
        "publishers/invitation_accept.html",
        {"invitation": invitation if problem is None else None, "problem": problem},
        status=400 if problem and request.method == "POST" else 200,
    )
