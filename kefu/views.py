import contextlib

from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import run_service_checks
from .scoping import is_superadmin

# Anyone may ask, and each answer pings every worker through the broker: answers
# are reused for this long.
HEALTH_CACHE_SECONDS = 5
HEALTH_CACHE_KEY = "kefu:health"


@never_cache
@require_GET
def health(request):
    """Liveness for anyone: 200 when every service is up, 503 naming what is down.

    The reasons (error texts, broker address, worker host names) are for
    superadmins only; ``manage.py diagnose`` prints them too.
    """
    checks = None
    with contextlib.suppress(Exception):  # a cache that is down is one of the checks, not a 500
        checks = cache.get(HEALTH_CACHE_KEY)
    if checks is None:
        checks = {r.name: r.as_dict() for r in run_service_checks()}
        # A cache that is down is reported in the checks themselves.
        with contextlib.suppress(Exception):
            cache.set(HEALTH_CACHE_KEY, checks, HEALTH_CACHE_SECONDS)
    down = [name for name, check in checks.items() if not check["ok"]]
    if not is_superadmin(request.user):
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    body = {"status": "ok" if not down else "down", "down": down, "checks": checks}
    return JsonResponse(body, status=200 if not down else 503)
