"""Event rules (StackStorm's rules, with Segue's expressions): an event that comes in on
`POST /events` starts a run of a rule's workflow when the rule names the event and its
`criteria` gives `true`; the rule's `input` maps the event to the run input. Runs beside
the correlation routing to waiting runs (api/ingress.py), after it.

Both expressions see `{event, key, payload}`. One rule's failure (its expression fails,
the input breaks the schema, Temporal refuses) is reported in the answer and does not
stop the other rules: the event is already recorded and other rules' runs are started."""

from __future__ import annotations

from typing import Any, Final

from api.mapping import as_input, compiled, holds
from api.problems import ApiProblem
from api.runs import start_new_run
from api.services import Services
from api.wire import IngressEvent, RuleOutcome
from engine.expressions import UNDEFINED, ExpressionError
from engine.store import admission as store
from engine.store import get_workflow_version
from engine.temporal.client import TemporalClientError

MAX_RULES_PER_EVENT: Final = 50


async def apply_rules(
    services: Services, event_id: int, event: IngressEvent, key: str | None
) -> list[RuleOutcome]:
    """Start a run for each rule of the event whose criteria holds; what each did."""
    rules = await store.list_rules(services.pool, event.event)
    context = {"event": event.event, "key": key, "payload": event.payload}
    outcomes = []
    for rule in rules[:MAX_RULES_PER_EVENT]:
        outcome = await _apply(services, rule, event_id, context)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


async def _apply(
    services: Services, rule: store.EventRule, event_id: int, context: dict[str, Any]
) -> RuleOutcome | None:
    seed = f"rule:{rule.name}:{event_id}"
    try:
        if rule.criteria is not None:
            verdict = compiled(rule.criteria, "criteria").evaluate(context, seed)
            if not holds(verdict):
                return None
        if rule.input_mapping is None:
            run_input = as_input(context["payload"])
        else:
            mapped = compiled(rule.input_mapping, "input").evaluate(context, seed)
            run_input = None if mapped is UNDEFINED else as_input(mapped)
    except ExpressionError as error:
        return RuleOutcome(rule=rule.name, code="RULE_EXPRESSION_FAILED", detail=error.message)
    except ApiProblem as problem:  # stored before a stricter check: reported, not raised
        return RuleOutcome(rule=rule.name, code=problem.code, detail=problem.detail)
    if run_input is None:
        return RuleOutcome(
            rule=rule.name,
            code="RULE_INPUT_INVALID",
            detail="the rule's input must be a JSON object for this event",
        )
    version = await get_workflow_version(services.pool, rule.workflow_name)
    if version is None:
        return RuleOutcome(
            rule=rule.name,
            code="WORKFLOW_NOT_FOUND",
            detail=f"no workflow {rule.workflow_name!r}",
        )
    try:
        record, _ = await start_new_run(
            services, version, run_input, idempotency_key=f"rule:{rule.name}:{event_id}"
        )
    except ApiProblem as problem:
        return RuleOutcome(rule=rule.name, code=problem.code, detail=problem.detail)
    except TemporalClientError as error:
        return RuleOutcome(rule=rule.name, code=error.code, detail="Temporal refused the start")
    return RuleOutcome(rule=rule.name, run_id=record.run_id)
