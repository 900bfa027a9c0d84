"""Forms for publishers and moderators. Each hands its cleaned data to one service."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BaseInlineFormSet, inlineformset_factory

from listings import services
from listings.models import Product, Revision, Tier


class ProductCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="You can change it later; customers see it.")
    slug = forms.SlugField(
        max_length=60,
        required=False,
        help_text="The product's address under your namespace. Left empty, it is made from the name; "
        "it cannot change later.",
    )


class RevisionForm(forms.ModelForm):
    """Every manifest item. A draft may be saved incomplete; submitting checks completeness."""

    class Meta:
        model = Revision
        fields = list(services.MANIFEST_FIELDS)
        widgets = {
            "long_description": forms.Textarea(attrs={"rows": 10}),
            "installation_instructions": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("support_url", "licence_url"):
            field = self.fields[name]
            assert isinstance(field, forms.URLField)
            field.assume_scheme = "https"  # type: ignore[attr-defined]
        self.fields["category"].empty_label = "Choose a category"  # type: ignore[attr-defined]

    def clean_logo(self) -> Any:
        logo = self.cleaned_data.get("logo")
        if logo and hasattr(logo, "content_type"):
            services.check_logo(logo)
        return logo

    def changes(self) -> dict[str, Any]:
        """The changed manifest items; an untouched logo is left as it is."""
        data = {
            name: self.cleaned_data[name] for name in services.MANIFEST_FIELDS if name in self.cleaned_data
        }
        if "logo" not in self.changed_data:
            data.pop("logo", None)
        return data


class TierForm(forms.ModelForm):
    class Meta:
        model = Tier
        fields = list(services.TIER_FIELDS)
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, product: Product, **kwargs: Any) -> None:
        self.product = product
        super().__init__(*args, **kwargs)
        self.fields["repository"].help_text = (
            f"Where customers pull from, e.g. {product.publisher.namespace}/{product.slug}. "
            "Left empty, it is made from your namespace and the product's address."
        )
        if self.instance.pk and self.instance.repository_locked:
            self.fields["repository"].disabled = True
            self.fields["repository"].help_text = "Published tiers keep their repository."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        locked = self.instance.repository if self.instance.pk and self.instance.repository_locked else ""
        problems = services.tier_problems(
            product=self.product,
            data=data,
            key=self.instance.key if self.instance.pk else None,
            locked_repository=locked,
        )
        for name, messages in problems.items():
            for message in messages:
                if name not in self.errors or message not in self.errors[name]:
                    self.add_error(name if name in self.fields else None, message)
        return data


class BaseTierFormSet(BaseInlineFormSet):
    """Tier forms; build it with ``form_kwargs={"product": product}``."""

    def clean(self) -> None:
        super().clean()
        seen: dict[str, str] = {}
        for form in self.forms:
            if not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            repository = form.cleaned_data.get("repository") or ""
            if repository and repository in seen:
                form.add_error(
                    "repository", f"Each tier needs its own repository; “{seen[repository]}” uses it too."
                )
            elif repository:
                seen[repository] = form.cleaned_data.get("name", "")

    def changes(self) -> list[services.TierChange]:
        result = []
        for form in self.forms:
            if not form.has_changed() and not (form.instance.pk and form.cleaned_data.get("DELETE")):
                continue
            key = form.instance.key if form.instance.pk else None
            if form.cleaned_data.get("DELETE"):
                if key:
                    result.append(services.TierChange(key=key, delete=True))
                continue
            data = {
                name: form.cleaned_data[name] for name in services.TIER_FIELDS if name in form.cleaned_data
            }
            result.append(services.TierChange(key=key, data=data))
        return result


TierFormSet = inlineformset_factory(
    Revision, Tier, form=TierForm, formset=BaseTierFormSet, extra=1, can_delete=True, max_num=10
)


class ScreenshotForm(forms.Form):
    image = forms.FileField(help_text="PNG, JPEG or WebP.")
    caption = forms.CharField(max_length=200, required=False)

    def clean_image(self) -> Any:
        image = self.cleaned_data["image"]
        services.check_screenshot(image)
        return image


class CommentForm(forms.Form):
    body = forms.CharField(label="Message", widget=forms.Textarea(attrs={"rows": 3}))


class SubmitForm(forms.Form):
    message = forms.CharField(
        label="Note for the moderators", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class DecisionForm(forms.Form):
    """A moderator's decision. Asking for changes and rejecting need a message for the publisher."""

    DECISIONS = [("approve", "Approve"), ("request_changes", "Request changes"), ("reject", "Reject")]
    decision = forms.ChoiceField(choices=DECISIONS, widget=forms.RadioSelect)
    message = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Emailed to the publisher and kept in the review thread.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") in ("request_changes", "reject") and not (data.get("message") or "").strip():
            raise ValidationError(
                {
                    "message": "Say what the publisher has to change or why the listing is rejected; they receive it."
                }
            )
        return data
