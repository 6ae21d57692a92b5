from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .health import run_service_checks


@never_cache
@require_GET
def health(request):
    """Public liveness: 200 when every service is up, 503 naming what is down."""
    results = run_service_checks()
    down = [r.name for r in results if not r.ok]
    body = {"status": "ok" if not down else "down", "down": down, "checks": {r.name: r.as_dict() for r in results}}
    return JsonResponse(body, status=200 if not down else 503)
