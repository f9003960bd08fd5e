"""Compare what the file asks for with what the account holds, field by field.

Resources are found by name: templates `<deployment>-<stage>-template`, endpoints
`<deployment>-<stage>` (Runpod shows FlashBoot endpoints as `<name> -fb`; that suffix is not
part of the name). A template is this deployment's only if its readme carries the
deployment's marker, and an endpoint only if it runs this deployment's template: anything
else with the same name is reported and left alone, never adopted or deleted. A stage the
file no longer lists (the optional CPU inference stage) is deleted, if this deployment made it.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from deploy.config import STAGES, DeployConfig, DeployStage, is_secret_reference, is_sensitive_key
from deploy.layouts import deployed_stages, describe_layout
from deploy.runpod_api import Account
from deploy.spec import endpoint_input, ownership_marker, template_input

Action = Literal["create", "update", "unchanged", "blocked", "delete"]
Kind = Literal["template", "endpoint"]

# Compared on update; a field the API does not report (null) is not compared.
TEMPLATE_FIELDS = (
    "imageName",
    "containerDiskInGb",
    "volumeInGb",
    "ports",
    "dockerArgs",
    "isServerless",
    "containerRegistryAuthId",
)
# Comma-separated lists: the order Runpod keeps them in is not a change.
_LIST_FIELDS = {"gpuIds", "allowedCudaVersions", "locations", "instanceIds"}
_FLASHBOOT_SUFFIX = re.compile(r"\s*-fb$")


def pending_id(name: str) -> str:
    return f"(id of {name}, known after apply)"


@dataclass
class Change:
    field: str
    old: Any
    new: Any


@dataclass
class Step:
    kind: Kind
    stage: DeployStage
    name: str
    action: Action
    record: dict[str, Any] | None  # what exists (None when nothing does)
    payload: dict[str, Any]  # what to send: with `id` for an update
    changes: list[Change] = field(default_factory=list)
    reason: str = ""

    @property
    def id(self) -> str | None:
        return self.record.get("id") if self.record else None


def base_name(name: str) -> str:
    return _FLASHBOOT_SUFFIX.sub("", name.strip())


def named(records: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [r for r in records if base_name(str(r.get("name") or "")) == name]


def is_ours(config: DeployConfig, template: dict[str, Any]) -> bool:
    return ownership_marker(config) in str(template.get("readme") or "")


def shown(key: str, value: Any) -> Any:
    """An env value as plan may print it: a credential someone pasted in is not repeated."""
    if isinstance(value, str) and is_sensitive_key(key) and not is_secret_reference(value):
        return "(hidden)" if value else value
    return value


def _comparable(name: str, value: Any) -> Any:
    if name == "name":
        return base_name(str(value))
    if name in _LIST_FIELDS:
        items = value if isinstance(value, list) else str(value).split(",")
        return tuple(sorted(s.strip() for s in items if str(s).strip()))
    return value


def _field_changes(fields: list[str], record: dict[str, Any], payload: dict[str, Any]) -> list:
    changes = []
    for name in fields:
        if name not in payload or record.get(name) is None:
            continue
        if _comparable(name, record[name]) != _comparable(name, payload[name]):
            changes.append(Change(name, record[name], payload[name]))
    return changes


def _env_changes(record: dict[str, Any], payload: dict[str, Any]) -> list[Change]:
    if record.get("env") is None:
        return []
    old = {e["key"]: e.get("value", "") for e in record["env"]}
    new = {e["key"]: e["value"] for e in payload["env"]}
    return [
        Change(f"env.{key}", shown(key, old.get(key)), shown(key, new.get(key)))
        for key in [*new, *(k for k in old if k not in new)]
        if old.get(key) != new.get(key)
    ]


def _blocked(kind: Kind, stage: DeployStage, name: str, record, payload, reason: str) -> Step:
    return Step(kind, stage, name, "blocked", record, payload, reason=reason)


def _one(kind: Kind, stage: DeployStage, name: str, found: list, payload: dict) -> Step | None:
    """A blocked step when several resources share the name: which one is ours is unknown."""
    if len(found) <= 1:
        return None
    ids = ", ".join(str(r.get("id")) for r in found)
    reason = f"{len(found)} {kind}s have this name ({ids}); delete the extra ones"
    return _blocked(kind, stage, name, None, payload, reason)


def _update(
    kind: Kind, stage: DeployStage, name: str, record: dict, payload: dict, changes, reason=""
):
    return Step(
        kind, stage, name, "update", record, {"id": record["id"], **payload}, changes, reason
    )


def plan_template(
    config: DeployConfig,
    stage: DeployStage,
    account: Account,
    endpoint_ids: dict[DeployStage, str],
) -> Step:
    name = config.template_name(stage)
    payload = template_input(config, stage, endpoint_ids)
    found = named(account.templates, name)
    if duplicate := _one("template", stage, name, found, payload):
        return duplicate
    if not found:
        return Step("template", stage, name, "create", None, payload)
    (record,) = found
    if not is_ours(config, record):
        reason = (
            "a template of this name exists that `deploy` did not make; rename "
            "deployment.name or delete that template"
        )
        return _blocked("template", stage, name, record, payload, reason)
    changes = _field_changes(list(TEMPLATE_FIELDS), record, payload) + _env_changes(record, payload)
    if not changes:
        return Step("template", stage, name, "unchanged", record, payload)
    return _update("template", stage, name, record, payload, changes)


def plan_endpoint(
    config: DeployConfig, stage: DeployStage, account: Account, template: Step
) -> Step:
    name = config.endpoint_name(stage)
    payload = endpoint_input(config, stage, template.id or pending_id(template.name))
    found = named(account.endpoints, name)
    if duplicate := _one("endpoint", stage, name, found, payload):
        return duplicate
    if not found:
        if template.action == "blocked":
            return _blocked("endpoint", stage, name, None, payload, "its template is blocked")
        return Step("endpoint", stage, name, "create", None, payload)
    (record,) = found
    if template.action == "blocked" or record.get("templateId") != template.id:
        reason = (
            "an endpoint of this name exists that does not run this deployment's template; "
            "rename deployment.name or delete that endpoint"
        )
        return _blocked("endpoint", stage, name, record, payload, reason)
    changes = _field_changes(list(payload), record, payload)
    if not changes and template.action != "update":
        return Step("endpoint", stage, name, "unchanged", record, payload)
    # Runpod rolls an endpoint's workers onto a new image when the endpoint is saved, so a
    # changed template is followed by a save of its endpoint (as flash's update does).
    reason = "" if changes else "saved again so that Runpod rolls its workers onto the template"
    return _update("endpoint", stage, name, record, payload, changes, reason)


@dataclass
class Plan:
    steps: list[Step]
    layout: str = ""

    @property
    def blocked(self) -> list[Step]:
        return [s for s in self.steps if s.action == "blocked"]

    def count(self, action: Action) -> int:
        return sum(1 for s in self.steps if s.action == action)


def ours_of_stage(
    config: DeployConfig, stage: DeployStage, account: Account
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """This deployment's templates of a stage, and the endpoints that run them."""
    templates = [
        t for t in named(account.templates, config.template_name(stage)) if is_ours(config, t)
    ]
    ids = {t.get("id") for t in templates}
    endpoints = [
        e
        for e in named(account.endpoints, config.endpoint_name(stage))
        if e.get("templateId") in ids
    ]
    return templates, endpoints


def plan_removal(config: DeployConfig, stage: DeployStage, account: Account) -> list[Step]:
    """Delete what this deployment made for a stage it no longer deploys: endpoints first."""
    templates, endpoints = ours_of_stage(config, stage, account)
    reason = (
        f'layout "{config.deployment.layout}" does not use [stages.{stage.value}]'
        if config.lists(stage)
        else f"[stages.{stage.value}] is no longer in the file"
    )
    return [
        Step("endpoint", stage, config.endpoint_name(stage), "delete", e, {}, reason=reason)
        for e in endpoints
    ] + [
        Step("template", stage, config.template_name(stage), "delete", t, {}, reason=reason)
        for t in templates
    ]


def plan_deployment(config: DeployConfig, account: Account) -> Plan:
    steps: list[Step] = []
    endpoint_ids: dict[DeployStage, str] = {}
    deployed = deployed_stages(config)
    for stage in deployed:
        template = plan_template(config, stage, account, endpoint_ids)
        endpoint = plan_endpoint(config, stage, account, template)
        endpoint_ids[stage] = endpoint.id or pending_id(endpoint.name)
        steps += [template, endpoint]
    # After the orchestrator's update, which stops it calling them.
    for stage in STAGES:
        if stage not in deployed:
            steps += plan_removal(config, stage, account)
    return Plan(steps, describe_layout(config))


# -- how a plan reads -----------------------------------------------------------------------

_SIGNS = {"create": "+", "update": "~", "unchanged": "=", "blocked": "!", "delete": "-"}


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def describe_step(step: Step) -> list[str]:
    where = f" ({step.id})" if step.id else ""
    lines = [f"{_SIGNS[step.action]} {step.kind} {step.name}{where}: {step.action}"]
    if step.reason:
        lines.append(f"    {step.reason}")
    if step.action == "create":
        for key, value in step.payload.items():
            if key == "env":
                lines += [
                    f"    env.{e['key']} = {_value(shown(e['key'], e['value']))}" for e in value
                ]
            elif key != "readme":
                lines.append(f"    {key} = {_value(value)}")
    for change in step.changes:
        old = "(not set)" if change.old is None else _value(change.old)
        new = "(removed)" if change.new is None else _value(change.new)
        lines.append(f"    {change.field}: {old} -> {new}")
    return lines


def _endpoints(plan: Plan, action: Action) -> str:
    return ", ".join(s.name for s in plan.steps if s.kind == "endpoint" and s.action == action)


def describe_plan(plan: Plan) -> str:
    lines: list[str] = [plan.layout, ""] if plan.layout else []
    for step in plan.steps:
        lines += describe_step(step)
    summary = (
        f"Plan: {plan.count('create')} to create, {plan.count('update')} to update, "
        f"{plan.count('unchanged')} unchanged"
    )
    if plan.count("delete"):
        summary += f", {plan.count('delete')} to delete"
    if plan.blocked:
        summary += f", {len(plan.blocked)} blocked (apply refuses until they are resolved)"
    # What a layout switch comes to, in one place: the endpoints made and the ones deleted.
    endpoint_lines = [
        f"Endpoints to {action}: {names}."
        for action in ("create", "delete")
        if (names := _endpoints(plan, action))
    ]
    return "\n".join([*lines, "", summary + ".", *endpoint_lines])
