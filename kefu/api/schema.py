"""The OpenAPI schema says what the API does: the error answers each operation can give, and which
reads need no sign-in."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

WRITES = {"post", "put", "patch", "delete"}


class ErrorSerializer(serializers.Serializer):
    """Every error answer (kefu.api.exceptions): a stable code, a message in the request's language, details."""

    error = serializers.CharField(help_text="A stable code for programs, e.g. validation_error, not_found.")
    message = serializers.CharField(help_text="For people, in the request's language.")
    detail = serializers.JSONField(allow_null=True, help_text="Field errors, retry_after_seconds…, or null.")


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error statuses an operation can answer, rendered as ``Error``:

    - 400 when it reads a body or query/path parameters (bad input, bad filters, bad page size);
    - 401 always (no or a bad sign-in; wrong credentials on the login);
    - 403 when it authenticates (a role that may not, a CSRF failure on a browser session);
    - 404 when it takes parameters (an id not found, or not yours; a page past the end);
    - 409 for writes (a stale version, a row still in use, the last superadmin);
    - 415 when it reads a body (a media type no parser takes);
    - 429 always (the API's rate limits; a locked sign-in source).
    """

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation, method.lower()):
            responses.setdefault(str(code), self._get_response_for_code(ErrorSerializer, str(code)))
        return operation

    def _error_codes(self, operation, method) -> list[int]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        codes = {401, 429}
        if has_body or parameters:
            codes.add(400)
        if self.view.get_authenticators():
            codes.add(403)
        if parameters:
            codes.add(404)
        if method in WRITES:
            codes.add(409)
        if has_body:
            codes.add(415)
        return sorted(codes)

    def get_auth(self):
        auths = super().get_auth()
        # A permission that lets anyone read (public system configs) names the actions it opens.
        action = getattr(self.view, "action", None)
        public_reads = any(action in getattr(permission, "anonymous_read_actions", ())
                           for permission in self.view.get_permissions())
        if public_reads and self.method in ("GET", "HEAD", "OPTIONS") and {} not in auths:
            auths.append({})
        return auths
