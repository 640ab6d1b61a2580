"""`/rules`: the event rules that start runs from `POST /events` (api/rules.py)."""

from __future__ import annotations

from litestar import Controller, delete, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.mapping import PayloadExpression
from api.problems import ApiProblem, documented, not_found
from api.runs import iso, require_version
from api.services import Services
from api.validation import WORKFLOW_NAME
from api.wire import RuleList, RuleRequest, RuleView
from engine.store import admission as store

ServicesDep = NamedDependency[Services]
MAX_RULES = 500


def _view(rule: store.EventRule) -> RuleView:
    return RuleView(
        name=rule.name,
        event=rule.event_name,
        workflow=rule.workflow_name,
        created_at=iso(rule.created_at),
        criteria=rule.criteria,
        input=rule.input_mapping,
    )


class RuleController(Controller):
    path = "/rules"
    tags = ["events"]

    @get("/", summary="Every event rule", responses=documented())
    async def listing(self, services: ServicesDep) -> RuleList:
        return RuleList(rules=[_view(rule) for rule in await store.list_rules(services.pool)])

    @put(
        "/{name:str}",
        summary="Create or replace a rule: an event's criteria and input mapping start a run",
        responses=documented(404, 409, 422),
    )
    async def declare(
        self, services: ServicesDep, name: FromPath[str], data: JSONBody[RuleRequest]
    ) -> RuleView:
        if not WORKFLOW_NAME.fullmatch(name) or len(name) > 64:
            raise ApiProblem(400, "NAME_INVALID", f"invalid rule name {name!r}")
        await require_version(services, data.workflow)
        for source, what in ((data.criteria, "criteria"), (data.input, "input")):
            if source is not None:
                PayloadExpression(source, what)  # 422 EXPRESSION_INVALID now, not per event
        if (
            await store.get_rule(services.pool, name) is None
            and len(await store.list_rules(services.pool)) >= MAX_RULES
        ):
            raise ApiProblem(409, "TOO_MANY_RULES", f"there are {MAX_RULES} rules already")
        return _view(
            await store.put_rule(
                services.pool,
                name=name,
                event_name=data.event,
                workflow_name=data.workflow,
                criteria=data.criteria,
                input_mapping=data.input,
            )
        )

    @get("/{name:str}", summary="One rule", responses=documented(404))
    async def show(self, services: ServicesDep, name: FromPath[str]) -> RuleView:
        rule = await store.get_rule(services.pool, name)
        if rule is None:
            raise not_found("RULE_NOT_FOUND", f"no rule {name!r}")
        return _view(rule)

    @delete("/{name:str}", status_code=204, summary="Remove a rule", responses=documented(404))
    async def remove(self, services: ServicesDep, name: FromPath[str]) -> None:
        if not await store.delete_rule(services.pool, name):
            raise not_found("RULE_NOT_FOUND", f"no rule {name!r}")
