"""`POST /runs/{runId}/signals/{task}`: answer a waiting task, or one item of a with-items
task, and say precisely why not when it cannot be answered.

The answer goes to the run as a Temporal Update, so the run itself says whether a live
wait took it (engine/temporal/answers.py): `202` only then, else `409` with the run's
code, and the run records the refusal in its trace. When the run can be asked first (its
`progress` query), the answer is pinned to the wait it is for (execution, item, attempt):
of two answers for one wait the second is refused, and never answers a later wait.
"""

from __future__ import annotations

from api.problems import conflict
from api.runs import live_progress, require_live, require_run
from api.services import Services
from api.wire import SignalAccepted, SignalRequest
from engine.temporal.client import AnswerRefused, ExecutionNotFound, answer_wait
from engine.temporal.run_progress import OpenWait
from engine.temporal.types import SignalPayload


def pin(waiting: list[OpenWait], answer: SignalPayload) -> None:
    """Pin the answer to the oldest open wait of its task and item, if there is one (else
    the run explains why none is waiting)."""
    for wait in sorted(waiting, key=lambda wait: wait.execution):
        if wait.task == answer.task and wait.item == answer.item:
            answer.execution = wait.execution
            answer.attempt = wait.attempt
            return


async def signal_task(
    services: Services, run_id: str, task: str, request: SignalRequest
) -> SignalAccepted:
    """Deliver the payload to the wait of `task` (and `request.item`) of the run."""
    record = await require_run(services, run_id)
    await require_live(services, record, "RUN_NOT_RUNNING")
    answer = SignalPayload(payload=request.payload, task=task, item=request.item)
    live = await live_progress(services, run_id)
    if live is not None:
        pin(live.waiting, answer)
    try:
        await answer_wait(services.temporal, run_id, answer, timeout=services.temporal_timeout)
    except AnswerRefused as refused:
        raise conflict(refused.refusal, refused.message, **refused.details) from None
    except ExecutionNotFound:
        raise conflict("RUN_NOT_RUNNING", "the run ended before the answer arrived") from None
    return SignalAccepted(
        run_id=run_id, task=task, item=request.item, accepted=True, confirmed=True
    )
