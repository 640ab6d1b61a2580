"""What a worker process keeps across the runs it interprets: each workflow version's
compiled spec, and its catalog's action retry defaults (for runs whose start input
does not carry them)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from engine.language.loader import load_workflow
    from engine.language.spec import RetrySpec, WorkflowSpec
    from engine.temporal.types import InterpreterInput

SPECS_KEPT = 512
_SPECS: dict[str, WorkflowSpec] = {}
# How this process's specs came to be: compiled from their YAML, or decoded from the
# compact form registration stored (engine/temporal/spec_warmer.py). Read by tests and
# `docs/performance.md`'s benchmark; a count, not a decision.
LOADS: dict[str, int] = {"compiled": 0, "stored form": 0}
# The actions' own retry layers (LANGUAGE.md §8) from the worker's catalog: only for the
# actions a run's start input does not carry (runs started before the input carried
# them, or by a starter whose catalog lacks a plugin the worker has).
_WORKER_RETRY_DEFAULTS: dict[str, dict[str, float]] = {}
# The worker catalog's local actions, likewise only for runs whose input has none.
_WORKER_LOCAL_ACTIONS: list[str] = []


# The worker catalog's declared secret input fields, by action: a rendered input shown
# in the trace (behaviour 4) has them masked whatever their length. Trace content only:
# no decision of a run depends on it, so the worker's own catalog serves every run.
_WORKER_SECRET_INPUTS: dict[str, tuple[str, ...]] = {}


def configure_secret_inputs(paths: Mapping[str, Iterable[str]]) -> None:
    """Add a worker catalog's secret input fields for every interpreter. Added, never
    replaced: a process that builds several workers (the API's dev stack, the simulate
    harness, tests) masks what any of their catalogs declares; masking more is the safe
    side, and a later catalog without an action must not unmask it."""
    for name, fields in paths.items():
        known = _WORKER_SECRET_INPUTS.get(name, ())
        _WORKER_SECRET_INPUTS[name] = known + tuple(f for f in fields if f not in known)


def secret_inputs(action: str) -> tuple[str, ...]:
    """The dotted paths of `action`'s declared secret input fields (none if unknown)."""
    return _WORKER_SECRET_INPUTS.get(action, ())


def configure_action_retry_defaults(defaults: Mapping[str, Mapping[str, float]]) -> None:
    """Install the worker catalog's retry defaults for every interpreter in this process."""
    _WORKER_RETRY_DEFAULTS.clear()
    _WORKER_RETRY_DEFAULTS.update({name: dict(numbers) for name, numbers in defaults.items()})


def configure_local_actions(names: Iterable[str]) -> None:
    """Install the worker catalog's local actions for every interpreter in this process."""
    _WORKER_LOCAL_ACTIONS[:] = sorted(names)


def local_actions(params: InterpreterInput) -> list[str]:
    """The actions this run runs as local activities: what its start input carries."""
    return list(_WORKER_LOCAL_ACTIONS if params.local_actions is None else params.local_actions)


def retry_numbers(params: InterpreterInput) -> dict[str, dict[str, float]]:
    """The retry layers this run decides with: what its start input carries wins."""
    return {**_WORKER_RETRY_DEFAULTS, **(params.action_retry_defaults or {})}


def retry_specs(numbers: Mapping[str, Mapping[str, float]]) -> dict[str, RetrySpec]:
    """The retry layers as the coordinator takes them."""
    return {name: RetrySpec.from_numbers(values) for name, values in numbers.items()}


def compiled_spec(params: InterpreterInput) -> WorkflowSpec:
    """The spec of a workflow version, compiled once per worker process (usually before
    the run's first workflow task: engine/temporal/spec_warmer.py)."""
    return spec_of(params.workflow, params.version, params.yaml)


def spec_of(workflow: str, version: str, yaml: str) -> WorkflowSpec:
    """The compiled spec of (workflow, version, text), from the process's cache. Safe from
    any thread: two that miss together both compile, and either result serves."""
    key = _key(workflow, version, yaml)
    spec = _SPECS.get(key)
    if spec is None:
        spec = load_workflow(yaml, f"{workflow}.yaml", name=workflow)
        LOADS["compiled"] += 1
        _keep(key, spec)
    return spec


def keep_decoded(workflow: str, version: str, yaml: str, spec: WorkflowSpec) -> None:
    """Cache a spec decoded from the stored compact form of (workflow, version, text).
    The caller has checked that it is this text's (its content hash, its name and source
    as `spec_of` compiles them), and the form's fingerprint that this release's compiler
    made it: it equals what compiling the text gives (tests/language/test_compact.py)."""
    LOADS["stored form"] += 1
    _keep(_key(workflow, version, yaml), spec)


def _keep(key: str, spec: WorkflowSpec) -> None:
    if len(_SPECS) > SPECS_KEPT:
        _SPECS.clear()
    _SPECS[key] = spec


def is_compiled(workflow: str, version: str, yaml: str) -> bool:
    return _key(workflow, version, yaml) in _SPECS


def _key(workflow: str, version: str, yaml: str) -> str:
    return f"{workflow}\x00{version}\x00{len(yaml)}\x00{hash(yaml)}"
