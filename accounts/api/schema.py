"""Tell drf-spectacular how kefu's authentication classes look in the OpenAPI schema."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class KefuJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"


class KefuSessionScheme(SessionScheme):
    target_class = "accounts.authentication.SessionAuthentication"
    name = "cookieAuth"
