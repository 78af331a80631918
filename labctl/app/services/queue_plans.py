"""labctl's plans as the queue server must see them: with annotations it can evaluate.

The plan modules postpone annotations (``from __future__ import annotations``), so their signatures hold
strings: the queue server takes ``'Movable'`` for a literal type name and then refuses every call with a
pydantic "not fully defined" error. Each plan is given here a signature with its annotations resolved:
bluesky protocols become the queue server's device types (so device names given remotely arrive as
devices), ``Annotated[T, ...]`` becomes ``T``, and an annotation that cannot be resolved is left out (the
plan checks that parameter itself before anything moves). The plans themselves are not modified.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable


def _resolve(annotation, func: Callable):
    if isinstance(annotation, str):
        scope = dict(vars(typing)) | inspect.unwrap(func).__globals__  # the plan's module, not its decorator's
        try:
            annotation = eval(annotation, scope)  # noqa: S307 - the plan module's own annotation text
        except Exception:
            return inspect.Parameter.empty
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def with_resolved_signature(func: Callable) -> Callable:
    """A generator function running *func*, whose signature the queue server can read."""
    sig = inspect.signature(func)
    params = [p.replace(annotation=_resolve(p.annotation, func)) for p in sig.parameters.values()]

    @functools.wraps(func)
    def plan(*args, **kwargs):
        return (yield from func(*args, **kwargs))

    plan.__signature__ = sig.replace(parameters=params, return_annotation=inspect.Signature.empty)
    plan.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty}
    return plan


def for_queue_server(namespace: dict, plans: dict[str, Callable]) -> dict:
    """*namespace* with each plan of *plans* (that it holds under the same name) in its readable form."""
    out = dict(namespace)
    for name, func in plans.items():
        if out.get(name) is func:
            out[name] = with_resolved_signature(func)
    return out
