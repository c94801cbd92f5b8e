"""POST /greet/<name> enqueues the task; GET /results/<id> shows its result."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from greetings.tasks import write_greeting


@csrf_exempt
@require_POST
def greet(request: HttpRequest, name: str) -> JsonResponse:
    result = write_greeting.enqueue(name)
    return JsonResponse({"id": result.id, "status": result.status})


@require_GET
def result(request: HttpRequest, result_id: str) -> JsonResponse:
    found = write_greeting.get_result(result_id)
    value = found.return_value if found.is_finished and not found.errors else None
    return JsonResponse({"id": found.id, "status": found.status, "return_value": value})
