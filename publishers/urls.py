from django.urls import path

from publishers import views

app_name = "publishers"

urlpatterns = [
    path("new/", views.create, name="create"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("<str:namespace>/", views.dashboard, name="dashboard"),
    path("<str:namespace>/onboarding/", views.onboarding, name="onboarding"),
    path("<str:namespace>/onboarding/support/", views.onboarding_support, name="onboarding_support"),
    path("<str:namespace>/onboarding/members/", views.onboarding_members, name="onboarding_members"),
    path("<str:namespace>/profile/", views.profile, name="profile"),
    path("<str:namespace>/members/", views.members, name="members"),
    path("<str:namespace>/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("<str:namespace>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("<str:namespace>/invitations/", views.invite, name="invite"),
    path(
        "<str:namespace>/invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation_revoke",
    ),
]
