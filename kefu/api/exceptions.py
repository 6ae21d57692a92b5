"""Every API error is JSON: ``{"error": code, "message": text, "detail": …}``."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kefu.exceptions import KefuError
from kefu.fields import UndecryptableValue

logger = logging.getLogger(__name__)

DRF_CODES = {
    exceptions.ParseError: "invalid_json",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "validation_error",
}


def error_body(code: str, message: str, detail=None) -> dict:
    return {"error": code, "message": str(message), "detail": detail}


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            text = _first_message(value)
            if text:
                return text if key == "non_field_errors" else f"{key}: {text}"
    if isinstance(detail, list):
        for item in detail:
            text = _first_message(item)
            if text:
                return text
    return str(detail) if detail else ""


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = KefuError.from_validation_error(exc, code="validation_error")
    if isinstance(exc, KefuError):
        return Response(error_body(exc.code, exc.message, exc.detail), status=exc.status_code,
                        headers=getattr(exc, "headers", None))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, UndecryptableValue):
        logger.error("%s", exc)
        return Response(error_body("undecryptable_value", str(exc)), status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        message = _first_message(detail) or _("The request is not valid.")
    else:
        message = detail.get("detail", str(exc)) if isinstance(detail, dict) else str(exc)
        detail = None
    if isinstance(exc, exceptions.Throttled) and exc.wait:
        detail = {"retry_after_seconds": int(exc.wait)}
    response.data = error_body(code, message, detail)
    return response


def _wants_json(request) -> bool:
    return request.path.startswith("/api/") or request.path == "/health"


def json_404(request, exception=None):
    if not _wants_json(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(error_body("not_found", _("Not found.")), status=404)


def json_500(request):
    if not _wants_json(request):
        return defaults.server_error(request)
    return JsonResponse(error_body("server_error", _("The server met an unexpected error.")), status=500)


def json_400(request, exception=None):
    if not _wants_json(request):
        return defaults.bad_request(request, exception)
    return JsonResponse(error_body("bad_request", _("The request is not valid.")), status=400)
