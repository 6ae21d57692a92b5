"""The configs app's refusals; the API renders them as coded JSON (kefu.api.exceptions)."""

from kefu.exceptions import Conflict, KefuError, NotFound, PermissionDenied

__all__ = ["ConfigConflict", "ConfigError", "ConfigNotFound", "ConfigPermissionDenied", "ConfigValidationError"]


class ConfigError(KefuError):
    code = "config_error"

    @classmethod
    def problems_detail(cls, problems: list[tuple[str, str]]) -> list[dict]:
        """Configs name what is wrong by path (a field, or a place in a JSON document): ``[{path, message}]``."""
        return [{"path": name or "(root)", "message": message} for name, message in problems]


class ConfigValidationError(ConfigError):
    """Values refused by the template's schema or rules; ``detail`` lists ``{path, message}``."""

    code = "config_invalid"


class ConfigConflict(ConfigError, Conflict):
    """Someone else saved a newer version since the caller read theirs."""

    code = "config_version_conflict"


class ConfigNotFound(ConfigError, NotFound):
    code = "config_not_found"


class ConfigPermissionDenied(ConfigError, PermissionDenied):
    code = "config_permission_denied"
