"""Forms of the account pages. They check input; the writes happen in ``accounts.services``."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django import forms
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts import services, throttling
from accounts.models import Scope, User


class SignupForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    full_name = forms.CharField(
        max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}), required=True
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="The same password, to rule out a typo.",
    )

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email=email).exists():
            raise ValidationError(
                format_html(
                    'An account with this email address already exists. <a href="{}">Log in</a> or '
                    '<a href="{}">reset its password</a>.',
                    reverse("accounts:login"),
                    reverse("accounts:password_reset"),
                ),
                code="email_taken",
            )
        return email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ; type the same password twice.")
        elif password2:
            # Validators such as "too similar to the email" need the would-be user.
            candidate = User(email=cleaned.get("email") or "", full_name=cleaned.get("full_name") or "")
            try:
                password_validation.validate_password(password2, candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class LoginForm(forms.Form):
    """Email and password, refused while the account or the address is throttled.

    ``unverified`` is set when the password was right but the address is not confirmed yet, so the
    page can offer to resend the link.
    """

    email = forms.EmailField(
        label="Email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.user: User | None = None
        self.unverified = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        email, password = cleaned.get("email"), cleaned.get("password")
        if not email or not password:
            return cleaned
        email = email.strip().lower()
        address = throttling.client_address(self.request)
        retry_at = throttling.login_throttle_retry_at(email=email, address=address)
        if retry_at is not None:
            raise ValidationError(throttling.retry_message(retry_at), code="throttled")
        user = authenticate(self.request, email=email, password=password)
        if user is None:
            throttling.login_failure_record(email=email, address=address)
            raise ValidationError(
                "That email and password do not match an account. Check both and try again.",
                code="invalid_login",
            )
        throttling.login_success_record(email=email)
        assert isinstance(user, User)
        if not user.email_verified:
            self.unverified = True
            raise ValidationError(
                "Confirm your email address first: open the link we emailed you. "
                "No email, or the link expired? Send a new one below.",
                code="unverified",
            )
        self.user = user
        return cleaned


class ResendVerificationForm(forms.Form):
    email = forms.EmailField(label="Email address", max_length=254)


class PasswordResetRequestForm(PasswordResetForm):
    """Django's reset form, sending through a Celery task (with the link made in the worker)."""

    def save(self, *args: Any, **kwargs: Any) -> None:
        for user in self.get_users(self.cleaned_data["email"]):
            assert isinstance(user, User)
            services.password_reset_email_request(user=user)


class PasswordResetSetForm(SetPasswordForm):
    def save(self, commit: bool = True) -> User:
        user = services.user_password_reset(user=self.user, password=self.cleaned_data["new_password1"])
        # Whoever opened the emailed link owns the account: forgive earlier failed logins.
        throttling.login_success_record(email=user.email)
        return user


class ProfileForm(forms.Form):
    full_name = forms.CharField(max_length=150, required=False)


class AccessTokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What uses it, e.g. “CI on build-01” or “laptop docker login”.",
    )
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Scope.READ],
        error_messages={"required": "Choose at least one scope."},
    )
    expires_at = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Optional. The token stops working at 00:00 UTC on this date. Empty: never expires.",
    )

    def clean_expires_at(self) -> datetime | None:
        day = self.cleaned_data.get("expires_at")
        if day is None:
            return None
        expires_at = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        if expires_at <= timezone.now():
            raise ValidationError("Choose a date in the future (tomorrow at the earliest).")
        return expires_at
