"""One text or many: the two shapes a stage's input comes in, told apart by one rule.

Every stage takes the pattern's form, one text's fields at the top level, and the batch form,
`{"items": [...]}`, many texts in one job. The pattern's form is read as a batch of one (its
item validated alone first, so errors name the sender's fields, not `items[0]`); the stage
works on batches, and answers a text sent alone with its one result, in the pattern's form.
"""

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel

ITEMS = "items"


def is_batch_form(data: Any) -> bool:
    return isinstance(data, dict) and ITEMS in data


def is_single_form(data: Any) -> bool:
    """The pattern's form: one text's fields at the top level, answered the same way."""
    return isinstance(data, dict) and ITEMS not in data


def as_batch(
    data: dict[str, Any], item_model: type[BaseModel], job_fields: Collection[str] = ()
) -> dict[str, Any]:
    """The pattern's form as a batch of one; `job_fields` (such as model_info) describe the
    whole job, so they stay at the top."""
    item = {key: value for key, value in data.items() if key not in job_fields}
    item_model.model_validate(item)
    return {ITEMS: [item], **{key: data.get(key) for key in job_fields}}
