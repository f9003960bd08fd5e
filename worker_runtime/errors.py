"""What a worker raises when a job fails: the caller's mistake, or the model's failure.

How they are answered is worker_runtime.jobs; the shape of the answer is contracts.WorkerError.
"""

from contracts.errors import InputRuleError


class StageInputError(InputRuleError):
    """The job's input is wrong in a way only the stage itself can tell (e.g. another tokenizer).

    `field` names where, in the job's input, as the orchestrator's 422 answer will show it."""


class ModelError(RuntimeError):
    """The model failed on input that was valid (out of memory, a device fault): not the
    caller's fault, and the message must say what failed without user text."""
