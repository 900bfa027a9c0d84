from django.urls import path

from billing import views

app_name = "billing"

urlpatterns = [
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path("products/<str:namespace>/<slug:slug>/", views.product_tiers, name="product_tiers"),
    path("products/<int:product_id>/tiers/<uuid:tier_key>/get/", views.get_tier, name="get_tier"),
    path("products/<int:product_id>/tiers/<uuid:tier_key>/checkout/", views.checkout, name="checkout"),
    path("checkout/<uuid:public_id>/success/", views.checkout_success, name="checkout_success"),
    path("checkout/<uuid:public_id>/status/", views.checkout_status, name="checkout_status"),
    path("checkout/<uuid:public_id>/cancel/", views.checkout_cancel, name="checkout_cancel"),
    path("licences/", views.licences, name="licences"),
    path("licences/<int:licence_id>/cancel/", views.licence_cancel, name="licence_cancel"),
    path("portal/", views.billing_portal, name="portal"),
    path("publishers/<str:namespace>/payouts/", views.payouts, name="payouts"),
    path("publishers/<str:namespace>/sales/", views.sales, name="sales"),
    path("publishers/<str:namespace>/sales/<int:entry_id>/refund/", views.sales_refund, name="sales_refund"),
]
