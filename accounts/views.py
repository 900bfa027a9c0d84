"""Sign-up, email confirmation, login, password reset and the account page with access tokens."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import selectors, services
from accounts.forms import (
    AccessTokenForm,
    LoginForm,
    PasswordResetRequestForm,
    PasswordResetSetForm,
    ProfileForm,
    ResendVerificationForm,
    SignupForm,
)
from accounts.models import User
from accounts.verification import VerificationLinkError, verification_token_read

PENDING_EMAIL_SESSION_KEY = "accounts:pending_email"


def _new_token_session_key(token_id: int) -> str:
    return f"accounts:new_token:{token_id}"


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _next_url(request: HttpRequest) -> str:
    """``next`` when it points to this site, else the default; never an open redirect."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters("password1", "password2")
@csrf_protect
@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:account")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_sign_up(
                email=form.cleaned_data["email"],
                full_name=form.cleaned_data["full_name"],
                password=form.cleaned_data["password1"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            request.session[PENDING_EMAIL_SESSION_KEY] = user.email
            return redirect("accounts:signup_done")
    return render(request, "accounts/signup.html", {"form": form})


@never_cache
def signup_done(request: HttpRequest) -> HttpResponse:
    email = request.session.get(PENDING_EMAIL_SESSION_KEY, "")
    context = {
        "email": email,
        "valid_days": settings.EMAIL_VERIFICATION_MAX_AGE.days,
        "resend_form": ResendVerificationForm(initial={"email": email}),
    }
    return render(request, "accounts/signup_done.html", context)


@never_cache
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """Confirm the address and log the person in; a broken, expired or used link says which it is."""
    try:
        user = verification_token_read(token=token)
    except VerificationLinkError as exc:
        context = {
            "problem": "expired" if exc.expired else "invalid",
            "resend_form": ResendVerificationForm(),
        }
        return render(request, "accounts/verify_failed.html", context, status=400)
    if not services.user_email_verify(user=user):
        # Used before: it must not log anyone in again (links sit in mailboxes for years).
        return render(request, "accounts/verify_failed.html", {"problem": "used"})
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session.pop(PENDING_EMAIL_SESSION_KEY, None)
    messages.success(request, "Your email address is confirmed. Welcome!")
    return redirect("accounts:account")


@require_POST
@csrf_protect
def resend_verification(request: HttpRequest) -> HttpResponse:
    form = ResendVerificationForm(request.POST)
    if not form.is_valid():
        return render(request, "accounts/resend_verification.html", {"resend_form": form}, status=400)
    email = form.cleaned_data["email"]
    services.verification_email_request(email=email)
    request.session[PENDING_EMAIL_SESSION_KEY] = email.strip().lower()
    messages.info(
        request,
        f"If {email} belongs to an account waiting for confirmation, a new link is on its way. "
        "It may take a minute; check your spam folder too.",
    )
    return redirect("accounts:signup_done")


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST" and form.is_valid():
        assert form.user is not None
        auth_login(request, form.user)
        return redirect(_next_url(request))
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    resend_form = None
    if form.unverified:
        resend_form = ResendVerificationForm(initial={"email": form.cleaned_data.get("email", "")})
    context = {"form": form, "next": next_url, "resend_form": resend_form}
    throttled = form.has_error(NON_FIELD_ERRORS, "throttled")
    return render(request, "accounts/login.html", context, status=429 if throttled else 200)


# Logging out changes state, so GET is refused (405): a link or an <img> cannot log anyone out.
logout = auth_views.LogoutView.as_view()

password_reset = auth_views.PasswordResetView.as_view(
    form_class=PasswordResetRequestForm,
    success_url=reverse_lazy("accounts:password_reset_done"),
)
password_reset_done = auth_views.PasswordResetDoneView.as_view()
password_reset_confirm = auth_views.PasswordResetConfirmView.as_view(
    form_class=PasswordResetSetForm,
    success_url=reverse_lazy("accounts:password_reset_complete"),
)
password_reset_complete = auth_views.PasswordResetCompleteView.as_view()


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ProfileForm(request.POST or None, initial={"full_name": user.full_name})
    if request.method == "POST" and form.is_valid():
        services.user_profile_update(user=user, full_name=form.cleaned_data["full_name"])
        messages.success(request, "Profile saved.")
        return redirect("accounts:account")
    tokens = selectors.access_tokens_for_user(user=user)
    return render(request, "accounts/account.html", {"form": form, "tokens": tokens})


@login_required
def token_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = AccessTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = services.access_token_create(
                user=user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_at"],
                actor=user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            # Kept only until the next page shows it: that page pops it from the session.
            request.session[_new_token_session_key(token.pk)] = raw
            return redirect("accounts:token_created", token_id=token.pk)
    return render(request, "accounts/token_create.html", {"form": form})


@login_required
@never_cache
def token_created(request: HttpRequest, token_id: int) -> HttpResponse:
    token = selectors.get_access_token_for_user(user=_user(request), token_id=token_id)
    raw = request.session.pop(_new_token_session_key(token.pk), None)
    return render(request, "accounts/token_created.html", {"token": token, "raw": raw})


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    user = _user(request)
    token = selectors.get_access_token_for_user(user=user, token_id=token_id)
    if services.access_token_revoke(token=token, actor=user):
        messages.success(request, f"Token “{token.name}” revoked. It no longer works.")
    else:
        messages.info(request, f"Token “{token.name}” was already revoked.")
    return redirect("accounts:account")
