from django.urls import path

from kefu.api.routers import OptionalSlashRouter

from .views import LoginView, LogoutView, MeView, RefreshView, UserViewSet

router = OptionalSlashRouter()
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/me", MeView.as_view(), name="auth-me"),
    path("auth/refresh", RefreshView.as_view(), name="auth-refresh"),
    *router.urls,
]
