from django.urls import path

from listings import views

app_name = "listings"

manage = "publishers/<str:namespace>/products/<slug:slug>"

urlpatterns = [
    path("search/", views.search, name="search"),
    path("products/<str:namespace>/<slug:slug>/", views.product_page, name="product"),
    path("products/<str:namespace>/<slug:slug>/subscribe/", views.subscribe, name="subscribe"),
    path(
        "products/<str:namespace>/<slug:slug>/unsubscribe/",
        views.unsubscribe_product,
        name="unsubscribe_product",
    ),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("notifications/", views.notifications, name="notifications"),
    path("publishers/<str:namespace>/products/", views.product_list, name="product_list"),
    path("publishers/<str:namespace>/products/new/", views.product_create, name="create"),
    path(f"{manage}/", views.manage, name="manage"),
    path(f"{manage}/edit/", views.edit, name="edit"),
    path(f"{manage}/screenshots/", views.screenshots, name="screenshots"),
    path(f"{manage}/screenshots/<int:screenshot_id>/", views.screenshot_change, name="screenshot_change"),
    path(f"{manage}/submit/", views.submit, name="submit"),
    path(f"{manage}/unpublish/", views.unpublish, name="unpublish"),
    path(f"{manage}/comments/", views.comment, name="comment"),
    path(f"{manage}/preview/", views.preview, name="preview"),
]
