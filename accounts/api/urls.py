from django.urls import path
from rest_framework_simplejwt.views import TokenRefreshView

from kefu.api.routers import OptionalSlashRouter

from .views import LoginView, LogoutView, MeView, UserViewSet

router = OptionalSlashRouter()
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("auth/me", MeView.as_view(), name="auth-me"),
    path("auth/refresh", TokenRefreshView.as_view(), name="auth-refresh"),
    *router.urls,
]
