"""Catalog pages for everyone and product pages for publishers (under /publishers/<namespace>/products/)."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from listings import selectors, services
from listings.forms import (
    BaseTierFormSet,
    CommentForm,
    ProductCreateForm,
    RevisionForm,
    ScreenshotForm,
    SubmitForm,
    TierFormSet,
)
from listings.models import Notification, Product, Revision, RevisionState, Screenshot, Subscription, Tier
from listings.workflow import EDITABLE_STATES
from publishers.models import Role
from publishers.selectors import get_publisher_for_member

PAGE_SIZE = 24


def registry_host() -> str:
    return str(settings.REGISTRY_PUBLIC_HOST)


def _actor(request: HttpRequest) -> User:
    return cast(User, request.user)


def _body_context(
    product: Product, revision: Revision, tiers: list[Tier], screenshots: list[Screenshot]
) -> dict[str, Any]:
    """What the product page shows; the publisher's preview uses exactly the same."""
    return {
        "product": product,
        "publisher": product.publisher,
        "revision": revision,
        "tiers": tiers,
        "screenshots": screenshots,
        "registry_host": registry_host(),
    }


# ---------------------------------------------------------------------------------------------
# Catalog


def search(request: HttpRequest) -> HttpResponse:
    params = selectors.SearchParams.from_query(request.GET)
    result = selectors.search(params)
    paginator = Paginator(result.products, PAGE_SIZE)  # its count is known: no COUNT(*) over the matches
    page = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "listings/search.html",
        {
            "params": params,
            "page": page,
            "result": result,
            "facets": result.facets,
            "cap": selectors.RESULT_CAP,
            "sorts": selectors.SORTS,
            "querystring": query.urlencode(),
        },
    )


def product_page(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_public_product(namespace, slug)
    revision = cast(Revision, product.live_revision)
    context = _body_context(product, revision, revision.tier_list, revision.screenshot_list)  # type: ignore[attr-defined]
    context["subscribed"] = (
        request.user.is_authenticated
        and Subscription.objects.filter(user_id=request.user.pk, product=product).exists()
    )
    return render(request, "listings/product_detail.html", context)


@login_required
@require_POST
def subscribe(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_public_product(namespace, slug)
    services.subscription_create(user=_actor(request), product=product)
    messages.success(request, f"You will hear when {product.name} has new images.")
    return redirect(product)


@login_required
@require_POST
def unsubscribe_product(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_public_product(namespace, slug)
    services.subscription_delete(user_id=_actor(request).pk, product_id=product.pk)
    messages.success(request, f"You no longer receive updates of {product.name}.")
    return redirect(product)


# The signed token is the credential; mail clients post here for one-click unsubscribe (RFC 8058).
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        product = services.unsubscribe_with_token(token=token)
        if product is None:
            return render(request, "listings/unsubscribe.html", {"invalid": True}, status=400)
        return render(request, "listings/unsubscribe.html", {"done": True, "product": product})
    return render(request, "listings/unsubscribe.html", {"token": token})


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    items = list(
        Notification.objects.filter(user_id=_actor(request).pk).select_related("product__publisher")[:50]
    )
    services.notifications_mark_read(user=_actor(request))
    return render(request, "listings/notifications.html", {"notifications": items})


# ---------------------------------------------------------------------------------------------
# Publisher pages


@login_required
def product_list(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace)
    return render(
        request,
        "listings/publisher/product_list.html",
        {
            "publisher": publisher,
            "products": selectors.products_for_publisher(publisher),
            "can_edit": publisher.membership.role_enum.at_least(Role.EDITOR),  # type: ignore[attr-defined]
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def product_create(request: HttpRequest, namespace: str) -> HttpResponse:
    publisher = get_publisher_for_member(request.user, namespace, min_role=Role.EDITOR)
    form = ProductCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(
                actor=_actor(request),
                publisher=publisher,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Product created. Fill in the listing, then submit it for review.")
            return redirect("listings:edit", namespace, product.slug)
    return render(request, "listings/publisher/product_new.html", {"publisher": publisher, "form": form})


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


def _manage_context(request: HttpRequest, product: Product, **extra: Any) -> dict[str, Any]:
    revision = selectors.latest_revision(product)
    working = services.working_revision(product)
    can_edit = product.publisher.membership.role_enum.at_least(Role.EDITOR)  # type: ignore[attr-defined]
    context = {
        "publisher": product.publisher,
        "product": product,
        "revision": revision,
        "working": working,
        "missing": services.missing_items(working) if working and working.state in EDITABLE_STATES else [],
        "thread": selectors.review_thread(product),
        "can_edit": can_edit,
        "comment_form": CommentForm(),
        "submit_form": SubmitForm(),
        "can_submit": can_edit and working is not None and working.state in EDITABLE_STATES,
        "can_unpublish": can_edit and product.status == "published",
    }
    context.update(extra)
    return context


@login_required
def manage(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_product_for_member(request.user, namespace, slug)
    return render(request, "listings/publisher/product_manage.html", _manage_context(request, product))


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_product_for_member(request.user, namespace, slug, write=request.method == "POST")
    revision = selectors.latest_revision(product)
    editable = revision.state != RevisionState.IN_REVIEW  # decided revisions are copied to a new draft
    data = request.POST if request.method == "POST" else None
    files = request.FILES if request.method == "POST" else None
    form = RevisionForm(data, files, instance=revision)
    tiers = cast(
        BaseTierFormSet,
        TierFormSet(data, instance=revision, prefix="tiers", form_kwargs={"product": product}),
    )
    if request.method == "POST" and form.is_valid() and tiers.is_valid():
        try:
            services.revision_save(
                actor=_actor(request), product=product, changes=form.changes(), tiers=tiers.changes()
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Draft saved. Submit it for review when it is complete.")
            return redirect("listings:manage", namespace, slug)
    return render(
        request,
        "listings/publisher/product_edit.html",
        {
            "publisher": product.publisher,
            "product": product,
            "revision": revision,
            "form": form,
            "tiers": tiers,
            "editable": editable,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def screenshots(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_product_for_member(request.user, namespace, slug, write=request.method == "POST")
    form = ScreenshotForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.screenshot_add(
                actor=_actor(request),
                product=product,
                image=form.cleaned_data["image"],
                caption=form.cleaned_data["caption"],
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, "Screenshot added.")
            return redirect("listings:screenshots", namespace, slug)
    revision = selectors.latest_revision(product)
    return render(
        request,
        "listings/publisher/screenshots.html",
        {
            "publisher": product.publisher,
            "product": product,
            "revision": revision,
            "screenshots": list(revision.screenshots.order_by("position", "id")),
            "form": form,
        },
    )


@login_required
@require_POST
def screenshot_change(request: HttpRequest, namespace: str, slug: str, screenshot_id: int) -> HttpResponse:
    """Move a screenshot up or down, or remove it."""
    product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
    revision = selectors.latest_revision(product)
    order = list(revision.screenshots.order_by("position", "id").values_list("id", flat=True))
    if screenshot_id not in order:
        raise Http404("No such screenshot.")
    action = request.POST.get("action")
    try:
        if action == "delete":
            services.screenshot_delete(actor=_actor(request), product=product, screenshot_id=screenshot_id)
        elif action in ("up", "down"):
            index = order.index(screenshot_id)
            other = index - 1 if action == "up" else index + 1
            if 0 <= other < len(order):
                order[index], order[other] = order[other], order[index]
            services.screenshot_reorder(actor=_actor(request), product=product, order=order)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    return redirect("listings:screenshots", namespace, slug)


@login_required
@require_POST
def submit(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
    form = SubmitForm(request.POST)
    form.is_valid()
    try:
        services.revision_submit(
            actor=_actor(request), product=product, message=form.cleaned_data.get("message", "")
        )
    except ValidationError as exc:
        context = _manage_context(request, product, submit_form=form, submit_errors=exc.messages)
        return render(request, "listings/publisher/product_manage.html", context, status=400)
    messages.success(request, "Submitted for review. The moderators will answer in the review thread.")
    return redirect("listings:manage", namespace, slug)


@login_required
@require_POST
def unpublish(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
    try:
        services.product_unpublish(
            actor=_actor(request), product=product, reason=request.POST.get("reason", "")
        )
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, "Unpublished: the product is no longer in the catalog.")
    return redirect("listings:manage", namespace, slug)


@login_required
@require_POST
def comment(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    product = selectors.get_product_for_member(request.user, namespace, slug, write=True)
    form = CommentForm(request.POST)
    if form.is_valid():
        services.review_comment_add(
            actor=_actor(request), product=product, body=form.cleaned_data["body"], from_moderator=False
        )
        messages.success(request, "Message added to the review thread.")
        return redirect(reverse("listings:manage", args=[namespace, slug]) + "#thread")
    context = _manage_context(request, product, comment_form=form)
    return render(request, "listings/publisher/product_manage.html", context, status=400)


@login_required
def preview(request: HttpRequest, namespace: str, slug: str) -> HttpResponse:
    """The newest revision exactly as customers will see it."""
    product = selectors.get_product_for_member(request.user, namespace, slug)
    revision = selectors.latest_revision(product)
    context = _body_context(
        product,
        revision,
        list(revision.tiers.order_by("position", "id")),
        list(revision.screenshots.order_by("position", "id")),
    )
    context["preview"] = True
    return render(request, "listings/product_detail.html", context)
