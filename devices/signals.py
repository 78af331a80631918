"""Signals that carry units and signals backed by a driver call.

ophyd v1's plain ``Signal`` does not report units; every labctl data key does, so devices build their
components from these classes instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ophyd import Signal as _Signal
from ophyd import SignalRO as _SignalRO
from ophyd.status import Status
from ophyd.utils import ReadOnlyError
from typing_extensions import override

from labctl.devices.errors import LimitError
from labctl.devices.status import finished, run_in_thread


class _Units:
    def __init__(self, *args, units: str | None = None, **kwargs):
        self._units = units
        super().__init__(*args, **kwargs)

    @property
    def units(self) -> str | None:
        return self._units

    def describe(self):
        desc = super().describe()
        if self._units:
            desc[self.name]["units"] = self._units
        return desc


class Signal(_Units, _Signal):
    """A soft signal with units."""


class SignalRO(_Units, _SignalRO):
    """A read-only soft signal with units (the owning device updates it with ``_readback``/``put``)."""


class DriverSignal(_Units, _Signal):
    """A signal whose value lives in the instrument.

    ``getter(device)`` and ``setter(device, value)`` are functions of the parent device, given in the class body
    as ``Cpt(DriverSignal, getter=_read_rate, setter=_write_rate, units="uL/h")`` after the methods they name.
    ``get`` asks the instrument each time; ``put`` commands it and caches the commanded value for subscribers
    (the next ``get`` reads what the instrument actually holds). Without a setter the signal is read-only.

    ``set`` refuses at once a value that is not a finite number where the signal holds numbers
    (:class:`~labctl.devices.errors.LimitError`: a NaN setpoint would otherwise never be reached), and is done
    once the instrument has taken the value, not when a readback equals it (an instrument rounds). It commands
    from a thread (the device's clock held, see :func:`~labctl.devices.status.run_in_thread`), or, with
    ``threaded=False``, in the caller's thread, so that a refused value raises in the plan.
    """

    def __init__(self, *args, getter: Callable[[Any], Any], setter: Callable[[Any, Any], None] | None = None,
                 threaded: bool = True, **kwargs):
        self._getter = getter
        self._setter = setter
        self._threaded = threaded
        super().__init__(*args, **kwargs)

    @override
    def get(self, **kwargs):
        value = self._getter(self.parent)
        self._readback = value
        self._metadata["timestamp"] = time.time()
        return value

    @override
    def put(self, value, **kwargs):
        if self._setter is None:
            raise ReadOnlyError(f"{self.name} is read-only")
        old = self._readback
        self._setter(self.parent, value)
        self._readback = value
        self._metadata["timestamp"] = time.time()
        self._run_subs(sub_type=self.SUB_VALUE, old_value=old, value=value, timestamp=self._metadata["timestamp"])

    @override
    def set(self, value, **kwargs) -> Status:
        if self._setter is None:
            raise ReadOnlyError(f"{self.name} is read-only")
        if isinstance(value, float) and not math.isfinite(value):
            raise LimitError(f"{self.name}: {value!r} is not a value an instrument can be set to")
        if not self._threaded:
            self.put(value)
            return finished(self)
        clock = getattr(self.parent, "clock", None) or getattr(getattr(self.parent, "driver", None), "clock", None)
        return run_in_thread(lambda: self.put(value), obj=self, clock=clock, name=f"{self.name}-set")

    @override
    @property
    def write_access(self) -> bool:
        return self._setter is not None
