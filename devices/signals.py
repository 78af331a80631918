"""Signals that carry units and signals backed by a driver call.

ophyd v1's plain ``Signal`` does not report units; every labctl data key does, so devices build their
components from these classes instead.
"""

from __future__ import annotations

import time

from ophyd import Signal as _Signal
from ophyd import SignalRO as _SignalRO
from typing_extensions import override


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

    ``getter`` and ``setter`` name methods of the parent device (strings, so they can be given in the
    class body as ``Cpt(DriverSignal, getter="_read_rate", setter="_write_rate", units="uL/h")``).
    ``get`` asks the instrument each time; ``put`` commands it and caches the commanded value for
    subscribers (the next ``get`` reads what the instrument actually holds).
    Without a setter the signal is read-only.
    """

    def __init__(self, *args, getter: str, setter: str | None = None, **kwargs):
        self._getter_name = getter
        self._setter_name = setter
        super().__init__(*args, **kwargs)

    @override
    def get(self, **kwargs):
        value = getattr(self.parent, self._getter_name)()
        self._readback = value
        self._metadata["timestamp"] = time.time()
        return value

    @override
    def put(self, value, **kwargs):
        if self._setter_name is None:
            from ophyd.utils import ReadOnlyError

            raise ReadOnlyError(f"{self.name} is read-only")
        old = self._readback
        getattr(self.parent, self._setter_name)(value)
        self._readback = value
        self._metadata["timestamp"] = time.time()
        self._run_subs(sub_type=self.SUB_VALUE, old_value=old, value=value, timestamp=self._metadata["timestamp"])

    @override
    @property
    def write_access(self) -> bool:
        return self._setter_name is not None
