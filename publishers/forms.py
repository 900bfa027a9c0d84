"""Forms for onboarding, the profile, members and invitations.

The forms only check and present input; the services in ``publishers.services`` write it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import models

from publishers.models import Publisher, Role
from publishers.selectors import invitation_conflict
from publishers.services import PROFILE_FIELDS, SUPPORT_FIELDS
from publishers.validators import LOGO_MIN_SIZE, check_image, normalize_phone

LOGO_ACCEPT = "image/png,image/jpeg,image/webp"


class LogoField(forms.FileField):
    """A file field that says exactly what is wrong with an image.

    Django's ``forms.ImageField`` replaces every Pillow failure with one generic message; this one
    runs ``check_image`` and keeps its specific reason (not square, too small, SVG, a bomb…).
    """

    widget = forms.FileInput(attrs={"accept": LOGO_ACCEPT})

    def to_python(self, data: Any) -> Any:
        file = super().to_python(data)
        if file is not None:
            check_image(file, min_size=LOGO_MIN_SIZE, square=True)
        return file


def https_urls(field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    """Form fields as the model would make them, with addresses typed without a scheme read as https."""
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


def role_choices(actor_role: Role) -> list[tuple[str, str]]:
    """The roles a person with ``actor_role`` may hand out: owners only by owners."""
    return [(role.value, role.label) for role in Role if role != Role.OWNER or actor_role == Role.OWNER]


class _ProfileMixin:
    """Phone numbers stored in E.164; the logo's help names the upload limit in force."""

    cleaned_data: dict[str, Any]
    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        logo = self.fields["logo"]
        keep = "" if logo.required else "Leave empty to keep the current logo. "
        logo.help_text = (
            f"{keep}Square PNG, JPEG or WebP, at least {LOGO_MIN_SIZE}x{LOGO_MIN_SIZE} pixels, "
            f"up to {settings.MAX_IMAGE_UPLOAD_BYTES / 1048576:g} MB."
        )

    def clean_phone(self) -> str:
        return normalize_phone(self.cleaned_data["phone"])


class PublisherProfileForm(_ProfileMixin, forms.ModelForm[Publisher]):
    """Onboarding step 1: the company profile. Creates the publisher."""

    logo = LogoField()

    class Meta:
        model = Publisher
        fields = ["namespace", *PROFILE_FIELDS]
        formfield_callback = https_urls
        widgets = {
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
            "story": forms.Textarea(attrs={"rows": 5}),
        }

    def clean_namespace(self) -> str:
        namespace: str = self.cleaned_data["namespace"]
        if Publisher.objects.filter(namespace=namespace).exists():
            raise forms.ValidationError(
                f"The namespace “{namespace}” is already taken; choose another.", code="namespace_taken"
            )
        return namespace


class PublisherSupportForm(forms.ModelForm[Publisher]):
    """Onboarding step 2: how customers get support, and what they can expect."""

    class Meta:
        model = Publisher
        fields = list(SUPPORT_FIELDS)
        formfield_callback = https_urls
        widgets = {
            "self_help_links": forms.Textarea(
                attrs={"rows": 4, "placeholder": "https://docs.example.com\nhttps://status.example.com"}
            ),
            "response_times": forms.Textarea(attrs={"rows": 3}),
        }


class PublisherEditForm(_ProfileMixin, forms.ModelForm[Publisher]):
    """The whole profile after onboarding. The namespace cannot change; the logo is optional."""

    logo = LogoField(required=False)

    class Meta:
        model = Publisher
        fields = [*PROFILE_FIELDS, *SUPPORT_FIELDS]
        formfield_callback = https_urls
        widgets = {**PublisherProfileForm.Meta.widgets, **PublisherSupportForm.Meta.widgets}

    def clean_logo(self) -> UploadedFile | None:
        # The field falls back to the stored file when nothing was chosen; only a new upload counts.
        logo = self.cleaned_data.get("logo")
        return logo if isinstance(logo, UploadedFile) else None


class InvitationForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"placeholder": "name@example.com"}))
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)

    def __init__(self, *args: Any, publisher: Publisher, actor_role: Role, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publisher = publisher
        self.fields["role"].choices = role_choices(actor_role)  # type: ignore[attr-defined]

    def has_changed(self) -> bool:
        # A row counts only once an address is typed; the role alone does not make it an invitation.
        return bool(str(self.data.get(self.add_prefix("email"), "")).strip())

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        conflict = invitation_conflict(self.publisher, email)
        if conflict:
            raise forms.ValidationError(conflict, code="invitation_conflict")
        return email


class BaseInvitationFormSet(forms.BaseFormSet[InvitationForm]):
    """Rows of email + role; blank rows are skipped, the same address twice is refused."""

    def clean(self) -> None:
        if any(self.errors):
            return
        seen: set[str] = set()
        for form in self.forms:
            email = form.cleaned_data.get("email")
            if not email:
                continue
            if email in seen:
                form.add_error("email", f"{email} is listed twice.")
            seen.add(email)

    @property
    def invitations(self) -> list[tuple[str, Role]]:
        return [
            (form.cleaned_data["email"], Role(form.cleaned_data["role"]))
            for form in self.forms
            if form.cleaned_data.get("email")
        ]


InvitationFormSet = forms.formset_factory(InvitationForm, formset=BaseInvitationFormSet, extra=3, max_num=20)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args: Any, actor_role: Role, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = role_choices(actor_role)  # type: ignore[attr-defined]
