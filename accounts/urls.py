from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("", views.account, name="account"),
    path("signup/", views.signup, name="signup"),
    path("signup/check-email/", views.signup_done, name="signup_done"),
    path("confirm-email/resend/", views.resend_verification, name="resend_verification"),
    path("confirm-email/<str:token>/", views.verify_email, name="verify_email"),
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/sent/", views.password_reset_done, name="password_reset_done"),
    path("password-reset/<uidb64>/<token>/", views.password_reset_confirm, name="password_reset_confirm"),
    path("password-reset/done/", views.password_reset_complete, name="password_reset_complete"),
    path("tokens/new/", views.token_create, name="token_create"),
    path("tokens/<int:token_id>/created/", views.token_created, name="token_created"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
