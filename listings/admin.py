"""Moderation in Django admin: the review queue and the review page.

Moderators read publisher content and decide on it; they never edit it. Every decision goes
through ``listings.services`` (and so through the state machine) exactly as the API does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from accounts.models import User
from listings import selectors, services
from listings.forms import CommentForm, DecisionForm
from listings.models import Category, Product, Revision, RevisionState

MODERATE = "listings.moderate_revision"


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    prepopulated_fields = {"slug": ["name"]}


class QueueStateFilter(admin.SimpleListFilter):
    """The queue opens on revisions waiting for a decision."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [*RevisionState.choices, ("all", "All")]

    def choices(self, changelist: Any) -> Any:
        for lookup, title in self.lookup_choices:
            selected = (self.value() or RevisionState.IN_REVIEW) == lookup
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value() or RevisionState.IN_REVIEW
        return queryset if value == "all" else queryset.filter(state=value)


class WaitingFilter(admin.SimpleListFilter):
    title = "waiting for"
    parameter_name = "waiting"
    RANGES = {"1d": (None, 1), "1-3d": (1, 3), "3-7d": (3, 7), "7d+": (7, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("1d", "Under a day"),
            ("1-3d", "1 to 3 days"),
            ("3-7d", "3 to 7 days"),
            ("7d+", "Over a week"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() not in self.RANGES:
            return queryset
        low, high = self.RANGES[str(self.value())]
        now = timezone.now()
        if low is not None:
            queryset = queryset.filter(submitted_at__lte=now - timedelta(days=low))
        if high is not None:
            queryset = queryset.filter(submitted_at__gt=now - timedelta(days=high))
        return queryset


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    """The review queue, oldest submission first."""

    list_display = ["name", "publisher", "number", "state", "category", "submitted_at", "waiting"]
    list_filter = [
        QueueStateFilter,
        "category",
        ("product__publisher", admin.RelatedOnlyFieldListFilter),
        WaitingFilter,
    ]
    search_fields = ["name", "product__slug", "product__publisher__namespace"]
    ordering = ["submitted_at", "id"]
    list_select_related = ["product__publisher", "category"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Revision]:
        return super().get_queryset(request).select_related("product__publisher", "category")

    @admin.display(ordering="product__publisher__namespace")
    def publisher(self, obj: Revision) -> str:
        return obj.product.publisher.namespace

    @admin.display(description="waiting", ordering="submitted_at")
    def waiting(self, obj: Revision) -> str:
        if obj.state != RevisionState.IN_REVIEW or obj.submitted_at is None:
            return "-"
        return timesince(obj.submitted_at)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        revision = self.get_object(request, unquote(object_id))
        if revision is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)  # type: ignore[attr-defined]
        if not self.has_view_permission(request, revision):
            raise PermissionDenied
        user = cast(User, request.user)
        may_decide = user.has_perm(MODERATE)
        decision = DecisionForm(request.POST if "decision" in request.POST else None)
        comment = CommentForm(request.POST if "body" in request.POST else None)
        if request.method == "POST":
            if not may_decide:
                raise PermissionDenied
            done = self._handle_post(request, user, revision, decision, comment)
            if done is not None:
                return done
        product = revision.product
        live = product.live_revision if product.live_revision_id != revision.pk else None
        tiers, dropped = selectors.tier_diff(revision, live)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Review: {revision.name or product.slug} (revision {revision.number})",
            "revision": revision,
            "product": product,
            "live": live,
            "rows": selectors.revision_diff(revision, live),
            "tiers": tiers,
            "dropped_tiers": dropped,
            "screenshots": list(revision.screenshots.order_by("position", "id")),
            "scan_summary": selectors.scan_summary(revision),
            "thread": selectors.review_thread(product),
            "decision_form": decision,
            "comment_form": comment,
            "can_decide": may_decide and revision.state == RevisionState.IN_REVIEW,
            "may_comment": may_decide,
            "missing": services.missing_items(revision),
        }
        return TemplateResponse(request, "listings/admin/review.html", context)

    def _handle_post(
        self,
        request: HttpRequest,
        user: User,
        revision: Revision,
        decision: DecisionForm,
        comment: CommentForm,
    ) -> HttpResponse | None:
        here = HttpResponseRedirect(request.path)
        if comment.is_bound:
            if comment.is_valid():
                services.review_comment_add(
                    actor=user,
                    product=revision.product,
                    body=comment.cleaned_data["body"],
                    from_moderator=True,
                )
                self.message_user(request, "Message added to the thread.", messages.SUCCESS)
                return here
            return None
        if not decision.is_valid():
            return None
        action = decision.cleaned_data["decision"]
        message = decision.cleaned_data.get("message", "")
        service = {
            "approve": services.revision_approve,
            "request_changes": services.revision_request_changes,
            "reject": services.revision_reject,
        }[action]
        try:
            service(actor=user, revision=revision, message=message)
        except ValidationError as exc:
            for text in exc.messages:
                decision.add_error(None, text)
            return None
        label = dict(DecisionForm.DECISIONS)[action]
        self.message_user(request, f"{label}: {revision}. The publisher has been emailed.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:listings_revision_changelist"))


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = [
        "name",
        "publisher",
        "slug",
        "status",
        "category",
        "is_featured",
        "is_certified",
        "live_link",
    ]
    list_filter = ["status", "is_featured", "kind", "distribution", "category"]
    search_fields = ["name", "slug", "publisher__namespace"]
    list_select_related = ["publisher", "category"]
    actions = ["feature", "unfeature"]
    exclude = ["search_vector"]

    @admin.display(description="page")
    def live_link(self, obj: Product) -> str:
        if not obj.is_visible:
            return "-"
        return format_html('<a href="{}">open</a>', obj.get_absolute_url())

    def has_feature_permission(self, request: HttpRequest) -> bool:
        return cast(User, request.user).has_perm(MODERATE)

    @admin.action(description="Feature on the home page", permissions=["feature"])
    def feature(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        # Curation by the store, not publisher content.
        queryset.update(is_featured=True)

    @admin.action(description="Stop featuring", permissions=["feature"])
    def unfeature(self, request: HttpRequest, queryset: QuerySet[Product]) -> None:
        queryset.update(is_featured=False)
