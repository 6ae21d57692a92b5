"""The one way kefu calls an AI model: candidates, budgets, breaker, failover, a usage record per attempt.

    result = router.chat(messages, user=user, shop=shop, message=msg)
    result.text, result.usage (UsageRecord of the successful attempt), result.model (AIModel)

``AllProvidersFailed`` (a KefuError) is raised when no candidate answered; its ``detail``
lists every attempt. The caller sends the message to human review with that error.
``BudgetExceeded`` is raised before any call when a quota or budget would be exceeded.

Usage records are written as each attempt ends, in their own short transaction (or in the
caller's, if the caller holds one): the provider is paid for the attempt whatever the
caller later does, so the record must not wait for the caller's commit.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db import router as db_router
from django.utils import timezone
from django.utils.translation import gettext as _

from kefu.logging import redact
from kefu.validators import validate_no_control_characters, without_control_characters

from . import breaker, budgets, conf, routing, selectors
from .catalogue import ai_model_ensure
from .choices import Capability, ErrorCode, ModelType, UsageStatus, UsageType
from .exceptions import AllProvidersFailed, BillingError, NoProviderConfigured, ProviderError
from .models import AIModel, ModelConfig, RequestLog, UsageRecord
from .providers import client_for
from .providers.base import local_error

logger = logging.getLogger(__name__)

ROLES = {"system", "user", "assistant"}
# Failures that say nothing about the provider's health do not count towards its breaker.
NOT_COUNTED = {ErrorCode.BAD_REQUEST, ErrorCode.NO_KEY, ErrorCode.BAD_CONFIG}
PROBE_MAX_TOKENS = 8  # a connection test asks for a few tokens only
OPENS_AT_ONCE = {ErrorCode.QUOTA_EXHAUSTED, ErrorCode.AUTHENTICATION}


@dataclass
class RouterResult:
    """What a routed call produced: ``text`` (chat) or ``vectors`` (embed), the usage record, the model."""

    usage: UsageRecord
    model: AIModel
    config: ModelConfig
    text: str = ""
    vectors: list[list[float]] = field(default_factory=list)
    attempts: list[dict] = field(default_factory=list)


def _refuse_control_characters(texts, *, code: str) -> None:
    """Raise BillingError (``code``) naming the first text with a C0 control character other than tab,
    line feed and carriage return: providers and PostgreSQL text columns (NUL) refuse them."""
    for index, text in enumerate(texts):
        try:
            validate_no_control_characters(text)
        except ValidationError as exc:
            raise BillingError.from_validation_error(exc, code=code,
                                                     detail={"index": index, "reason": "control_character"}) from None


def _check_messages(messages) -> list[dict]:
    if not isinstance(messages, list | tuple) or not messages:
        raise BillingError(_("messages must be a non-empty list."), code="invalid_messages")
    for item in messages:
        if not isinstance(item, dict) or item.get("role") not in ROLES or not isinstance(item.get("content"), str):
            raise BillingError(
                _("Each message needs a role (system, user, assistant) and text content."), code="invalid_messages"
            )
    _refuse_control_characters([m["content"] for m in messages], code="invalid_messages")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list | tuple) or not texts or not all(isinstance(t, str) for t in texts):
        raise BillingError(_("texts must be a non-empty list of strings."), code="invalid_texts")
    _refuse_control_characters(texts, code="invalid_texts")
    return list(texts)


def _ensure_model(config: ModelConfig) -> None:
    """Find or create the catalogue row of a config whose model is missing, so usage is never orphaned.

    Done when the router picks the config, not when the routing snapshot is loaded: loading a
    cache reads only.
    """
    if config.model_id is None:
        model_type = ModelType.EMBEDDING if config.capability == Capability.EMBEDDING else ModelType.TEXT
        config.model = ai_model_ensure(provider=config.provider, code=config.model_code, model_type=model_type)
        ModelConfig.objects.filter(pk=config.pk).update(model=config.model)


def embed_model_code(*, user=None, shop=None) -> str | None:
    """The model code :func:`embed` would try first for ``user`` and ``shop`` (None: no embedding config)."""
    candidates = selectors.config_candidates(capability=Capability.EMBEDDING, user=user, shop=shop)
    return candidates[0].model_code if candidates else None


def output_cap(config: ModelConfig) -> int:
    """The output tokens a chat call to ``config`` may produce: its max tokens, else
    KEFU_BILLING_DEFAULT_MAX_TOKENS. The same number is reserved against budgets and sent as
    ``max_tokens``, so a call cannot cost more output than was reserved."""
    return config.max_tokens or conf.default_max_tokens()


def chat(messages, *, capability: str = Capability.TEXT, user=None, shop=None, message=None,
         config=None) -> RouterResult:
    """Send chat ``messages`` to the first candidate that answers. See the module docstring."""
    messages = _check_messages(messages)
    return _route(UsageType.CHAT, messages, capability=capability, user=user, shop=shop, message=message,
                  config=config)


def embed(texts, *, user=None, shop=None, message=None, config=None) -> RouterResult:
    """Embed ``texts`` (a string or a list) with the first embedding candidate that answers."""
    texts = _check_texts(texts)
    return _route(UsageType.EMBEDDING, texts, capability=Capability.EMBEDDING, user=user, shop=shop,
                  message=message, config=config)


def _route(kind, payload, *, capability, user, shop, message, config) -> RouterResult:
    user = user if getattr(user, "is_authenticated", False) else None
    snapshot = routing.current()
    candidates = selectors.config_candidates(capability=capability, user=user, shop=shop, config=config,
                                             snapshot=snapshot)
    if not candidates:
        raise NoProviderConfigured(
            _("No active AI model config offers '%(cap)s'.") % {"cap": capability}, detail={"attempts": []}
        )
    for candidate in candidates:
        _ensure_model(candidate)
    now = timezone.now()
    prices = {c.model_id: snapshot.prices_at(c.model_id, now) for c in candidates}
    estimated_in = selectors.estimate_input_tokens(payload)

    def estimate(candidate):
        out = 0 if kind == UsageType.EMBEDDING else output_cap(candidate)
        return selectors.cost_of(prices.get(candidate.model_id, {}), input_tokens=estimated_in, output_tokens=out)

    shop_budget = snapshot.shop_budgets.get(getattr(shop, "pk", None)) if shop is not None else None
    reservation = budgets.reserve(user=user, shop=shop, amount=max(estimate(c) for c in candidates),
                                  budget=shop_budget)
    request_id = uuid.uuid4().hex
    message_ref = getattr(message, "pk", message)
    attempts: list[dict] = []
    spent = Decimal(0)
    try:
        for candidate in candidates:
            allowed, observed = breaker.allow(candidate.pk, trial_seconds=candidate.timeout_seconds + 5)
            if not allowed:
                attempts.append({"config": candidate.pk, "name": candidate.name, "skipped": "circuit_open"})
                continue
            config_hold = budgets.reserve_config(config=candidate, amount=estimate(candidate),
                                                 budget=snapshot.config_budgets.get(candidate.pk))
            if config_hold is None:
                attempts.append({"config": candidate.pk, "name": candidate.name, "skipped": "config_budget_exceeded"})
                if observed == breaker.HALF_OPEN:
                    breaker.release_trial(candidate.pk)
                continue
            number = sum(1 for a in attempts if "skipped" not in a) + 1
            record = None
            try:
                record, result, error = _call(kind, payload, candidate, prices.get(candidate.model_id, {}),
                                              user=user, shop=shop, message_ref=message_ref,
                                              request_id=request_id, number=number)
                spent += record.cost  # paid, whatever happens below
                _book(record, result, error, payload, candidate, observed)
            finally:
                budgets.settle(config_hold, actual=record.cost if record is not None else Decimal(0))
            attempts.append({"config": candidate.pk, "name": candidate.name, "status": record.status,
                             "error": record.error_code, "usage": record.pk})
            if result is not None:
                budgets.settle(reservation, actual=spent, succeeded=True)
                # copies: the snapshot's rows are shared by every call in this process
                return RouterResult(usage=record, model=copy.copy(candidate.model), config=copy.copy(candidate),
                                    attempts=attempts,
                                    text=getattr(result, "text", ""), vectors=getattr(result, "vectors", []))
    finally:
        budgets.settle(reservation, actual=spent, succeeded=False)
    if attempts and all(a.get("skipped") == "config_budget_exceeded" for a in attempts):
        from .exceptions import BudgetExceeded

        raise BudgetExceeded(_("Every model config's monthly budget is used up."), code="config_budget_exceeded",
                             detail={"attempts": attempts})
    raise AllProvidersFailed(
        _("No AI provider answered (%(n)d tried).") % {"n": len(attempts)}, detail={"attempts": attempts}
    )


def _attempt(kind, payload, config, prices, observed, *, user, shop, message_ref, request_id, number,
             max_tokens=None):
    """Call ``config`` once; write its usage record; update its breaker. Returns (record, result or None)."""
    record, result, error = _call(kind, payload, config, prices, user=user, shop=shop, message_ref=message_ref,
                                  request_id=request_id, number=number, max_tokens=max_tokens)
    _book(record, result, error, payload, config, observed)
    return record, result


def _call(kind, payload, config, prices, *, user, shop, message_ref, request_id, number, max_tokens=None):
    """Call ``config`` once. Returns (usage record, not yet saved; result or None; ProviderError or None).

    Never raises for a provider's or client's failure: that is the record's error.
    """
    started = time.perf_counter()
    result, error = None, None
    try:
        client = client_for(config)
        if kind == UsageType.EMBEDDING:
            result = client.embed(payload, model=config.model_code)
        else:
            result = client.chat(payload, model=config.model_code, max_tokens=max_tokens or output_cap(config),
                                 temperature=config.temperature)
    except ProviderError as exc:
        error = exc
    except Exception as exc:  # a client bug must fail over too, not lose the message
        error = local_error(exc)
        if error is None:
            logger.exception("billing: unexpected error from config %s", config.pk)
            error = ProviderError(ErrorCode.ERROR, f"{type(exc).__name__}: {exc}")
    latency_ms = int((time.perf_counter() - started) * 1000)
    input_tokens = getattr(result, "input_tokens", 0) if result else 0
    output_tokens = getattr(result, "output_tokens", 0) if result else 0
    ended = timezone.now()
    record = UsageRecord(
        created_at=ended, day=timezone.localtime(ended).date(), request_id=request_id, attempt=number,
        model_id=config.model_id, config=config, config_name=config.name,
        user=user, shop=shop, message_ref=message_ref, usage_type=kind,
        input_tokens=input_tokens, output_tokens=output_tokens,
        cost=selectors.cost_of(prices, input_tokens=input_tokens, output_tokens=output_tokens) if result else 0,
        latency_ms=latency_ms,
        status=UsageStatus.SUCCESS if result else UsageStatus.ERROR,
        error_code=error.code if error else "",
        error_text=redact(error.message)[:1000] if error else "",
    )
    return record, result, error


def _book(record: UsageRecord, result, error, payload, config: ModelConfig, observed: str) -> None:
    """Write the usage record, the request log if the config keeps one, and update the config's breaker."""
    _insert(record)
    if config.log_requests:
        _log_request(record, payload, result)
    if error is None:
        breaker.record_success(config.pk, observed)
    elif error.code not in NOT_COUNTED:
        new_state = breaker.record_failure(config.pk, observed, open_now=error.code in OPENS_AT_ONCE)
        logger.warning("billing: config %s failed (%s), breaker %s", config.pk, error.code, new_state)
    elif observed == breaker.HALF_OPEN:
        breaker.release_trial(config.pk)


def _log_request(record: UsageRecord, payload, result) -> None:
    """Keep the prompt and answer of a call. The call is answered and paid for by now, so a log that
    cannot be written is logged here and never becomes the caller's error; the savepoint keeps a
    caller's transaction usable after the failed INSERT."""
    vectors = getattr(result, "vectors", None)
    response = getattr(result, "text", "") or (f"[{len(vectors)} vectors]" if vectors else "")
    try:
        with transaction.atomic(using=db_router.db_for_write(RequestLog)):
            RequestLog.objects.create(
                usage=record,
                prompt=redact(json.dumps(payload, ensure_ascii=False)),  # JSON escapes control characters
                response=without_control_characters(redact(response)),  # PostgreSQL text cannot hold NUL
            )
    except Exception:
        logger.exception("billing: the request log of usage record %s was not written", record.pk)


def _insert(record: UsageRecord) -> None:
    """INSERT the usage record in one statement built once per process.

    The ORM's ``save()`` spent ~0.45 ms of the router's ~1 ms per call compiling this INSERT
    (bench/router_overhead.py); the values are still prepared by each field's own
    ``get_db_prep_save``, so the row is what ``save()`` would write.
    """
    connection = connections[db_router.db_for_write(UsageRecord)]
    if not connection.features.can_return_columns_from_insert:
        record.save(force_insert=True)
        return
    fields, sql = _insert_statement(connection.vendor)
    values = [field.get_db_prep_save(getattr(record, field.attname), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        record.pk = cursor.fetchone()[0]
    record._state.adding = False
    record._state.db = connection.alias


@functools.cache
def _insert_statement(vendor: str):
    connection = connections[db_router.db_for_write(UsageRecord)]
    quote = connection.ops.quote_name
    fields = [f for f in UsageRecord._meta.concrete_fields if not f.primary_key]
    # identifiers come from the model's _meta, quoted; every value is a parameter
    sql = "INSERT INTO {} ({}) VALUES ({}) RETURNING {}".format(  # noqa: S608
        quote(UsageRecord._meta.db_table), ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)), quote(UsageRecord._meta.pk.column),
    )
    return fields, sql


def probe(*, config: ModelConfig) -> tuple[bool, str]:
    """One cheap real call to ``config`` alone (no failover, no budgets), metered. Returns (ok, message)."""
    _ensure_model(config)
    prices = selectors.prices_in_force(model_ids=[config.model_id], at=timezone.now()).get(config.model_id, {})
    if config.capability == Capability.EMBEDDING:
        kind, payload = UsageType.EMBEDDING, ["ping"]
    else:
        kind, payload = UsageType.CHAT, [{"role": "user", "content": "ping"}]
    observed = breaker.state(config.pk)
    record, _result = _attempt(kind, payload, config, prices, observed, user=None, shop=None, message_ref=None,
                               request_id=uuid.uuid4().hex, number=1, max_tokens=PROBE_MAX_TOKENS)
    if record.status == UsageStatus.SUCCESS:
        return True, _("OK in %(ms)d ms (%(tokens)d tokens).") % {"ms": record.latency_ms,
                                                                  "tokens": record.total_tokens}
    return False, f"{record.error_code}: {record.error_text}"
