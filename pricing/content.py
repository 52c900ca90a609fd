"""Parsing Aleph message content with the `aleph-message` models.

Registration parses content exactly as the network does. Estimates use the same models with the
network's estimate additions: `estimated_size_mib` where a file size is needed (program code,
runtime, data, immutable volumes, STORE), and `time` / `allow_amend` made optional.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, List, Optional, Union

from aleph_message.models import InstanceContent, ProgramContent, StoreContent
from aleph_message.models.execution.abstract import MAX_VOLUMES
from aleph_message.models.execution.program import CodeContent, DataContent, FunctionRuntime
from aleph_message.models.execution.volume import (
    EphemeralVolume,
    ImmutableVolume,
    PersistentVolume,
)
from pydantic import Field, ValidationError

from .enums import MessageType

# A referenced file can be as large as the largest persistent volume (2 TiB).
MAX_FILE_SIZE_MIB = 2 * 1024 * 1024
# A STORE is priced up to 1 PiB; beyond that the hold cost leaves the priced range.
MAX_STORE_SIZE_MIB = Decimal(1024 ** 3)
MAX_STORE_SIZE_BYTES = 1024 ** 5

EstimatedSizeMib = Annotated[Optional[int], Field(default=None, ge=1, le=MAX_FILE_SIZE_MIB,
                                                    strict=True)]


class EstimateImmutableVolume(ImmutableVolume):
    estimated_size_mib: EstimatedSizeMib = None


EstimateMachineVolume = Union[EstimateImmutableVolume, EphemeralVolume, PersistentVolume]


class EstimateInstanceContent(InstanceContent):
    time: Optional[float] = Field(default=None, ge=0)  # type: ignore[assignment]
    allow_amend: bool = False
    volumes: List[EstimateMachineVolume] = Field(  # type: ignore[assignment]
        default_factory=list, max_length=MAX_VOLUMES)


class EstimateCodeContent(CodeContent):
    estimated_size_mib: EstimatedSizeMib = None


class EstimateFunctionRuntime(FunctionRuntime):
    estimated_size_mib: EstimatedSizeMib = None


class EstimateDataContent(DataContent):
    estimated_size_mib: EstimatedSizeMib = None


class EstimateProgramContent(ProgramContent):
    time: Optional[float] = Field(default=None, ge=0)  # type: ignore[assignment]
    allow_amend: bool = False
    code: EstimateCodeContent
    runtime: EstimateFunctionRuntime
    data: Optional[EstimateDataContent] = None
    volumes: List[EstimateMachineVolume] = Field(  # type: ignore[assignment]
        default_factory=list, max_length=MAX_VOLUMES)


class EstimateStoreContent(StoreContent):
    time: Optional[float] = Field(default=None, ge=0)  # type: ignore[assignment]
    size: Optional[int] = Field(default=None, ge=0, le=MAX_STORE_SIZE_BYTES)
    estimated_size_mib: Optional[Decimal] = Field(default=None, ge=0, le=MAX_STORE_SIZE_MIB,
                                                  allow_inf_nan=False)


class RegisteredStoreContent(StoreContent):
    size: Optional[int] = Field(default=None, ge=0, le=MAX_STORE_SIZE_BYTES)


_ESTIMATE_MODELS = {
    MessageType.INSTANCE: EstimateInstanceContent,
    MessageType.PROGRAM: EstimateProgramContent,
    MessageType.STORE: EstimateStoreContent,
}
_MESSAGE_MODELS = {
    MessageType.INSTANCE: InstanceContent,
    MessageType.PROGRAM: ProgramContent,
    MessageType.STORE: RegisteredStoreContent,
}


class ContentInvalid(Exception):
    """The content is not a valid Aleph content of its type; `errors` say where and why."""

    def __init__(self, message: str, errors: list[dict[str, Any]]):
        super().__init__(message)
        self.message = message
        self.errors = errors


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ".".join(str(part) for part in error["loc"]), "msg": error["msg"],
         "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ][:50]


def parse_content(message_type: str, content: Any, *, estimate: bool):
    """The content as an aleph-message model; raises ContentInvalid with every problem found."""
    models = _ESTIMATE_MODELS if estimate else _MESSAGE_MODELS
    model = models.get(message_type)
    if model is None:
        raise ContentInvalid(f"Unknown message type {message_type!r}; expected one of "
                             f"{', '.join(models)}.", [])
    if not isinstance(content, dict):
        raise ContentInvalid("content must be a JSON object.", [])
    try:
        return model.model_validate(content)
    except ValidationError as exc:
        errors = _errors(exc)
        first = errors[0] if errors else {"loc": "", "msg": "invalid"}
        raise ContentInvalid(
            f"content is not a valid {message_type} content: {first['loc'] or 'content'}: "
            f"{first['msg']}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
            errors,
        ) from None
