"""Syringe pumps: a motor pushing a plunger; what comes out depends on the syringe actually fitted."""

from __future__ import annotations

import math


class SyringePump:
    """Rates and volumes are what the firmware computes from its diameter setting; the liquid that moves is
    scaled by (fitted syringe diameter / setting)^2, as on a real pump with a wrong diameter entered."""

    def __init__(self, world, name: str, *, diameter_mm: float, volume_uL: float, contents: str,
                 feeds: str | None):
        if not diameter_mm > 0 or not volume_uL > 0:
            raise ValueError(f"pump {name}: diameter and syringe volume must be positive")
        self._world, self.name = world, name
        self._diameter = float(diameter_mm)
        self.syringe_diameter_mm = float(diameter_mm)
        self._volume = float(volume_uL)
        self._contents, self._contents_uL = contents, float(volume_uL)
        self.feeds = feeds
        self._running, self._stalled, self._blocked = False, False, False
        self._rate, self._direction, self._target, self._moved = 0.0, "infuse", None, 0.0
        self._infused = self._withdrawn = 0.0

    # -- public ---------------------------------------------------------------------------------------
    def _get(self, attr):
        with self._world._lock:
            self._world._sync(self)
            return getattr(self, attr)

    diameter_mm = property(lambda self: self._get("_diameter"))

    @diameter_mm.setter
    def diameter_mm(self, value: float) -> None:
        if not value > 0:
            raise ValueError(f"pump {self.name}: diameter must be positive, got {value}")
        with self._world._lock:
            self._world._sync(self)
            self._diameter = float(value)

    volume_uL = property(lambda self: self._get("_volume"))
    contents = property(lambda self: self._get("_contents"))
    contents_uL = property(lambda self: self._get("_contents_uL"))
    running = property(lambda self: self._get("_running"))
    stalled = property(lambda self: self._get("_stalled"))
    infused_uL = property(lambda self: self._get("_infused"))
    withdrawn_uL = property(lambda self: self._get("_withdrawn"))
    rate_uL_h = property(lambda self: self._get("_rate"))
    direction = property(lambda self: self._get("_direction"))

    def run(self, rate_uL_h: float, direction: str = "infuse", target_uL: float | None = None) -> None:
        if not rate_uL_h > 0 or not math.isfinite(rate_uL_h):
            raise ValueError(f"pump {self.name}: rate must be positive, got {rate_uL_h}")
        if direction not in ("infuse", "withdraw"):
            raise ValueError(f"pump {self.name}: direction must be 'infuse' or 'withdraw', got {direction!r}")
        if target_uL is not None and not target_uL > 0:
            raise ValueError(f"pump {self.name}: target volume must be positive, got {target_uL}")
        with self._world._lock:
            self._world._sync(self)
            self._rate, self._direction, self._target, self._moved = float(rate_uL_h), direction, target_uL, 0.0
            self._stalled = self._blocked
            self._running = not self._blocked
            if self._running and self._limit_left() <= 0:
                self._running, self._stalled = False, True

    def stop(self) -> None:
        with self._world._lock:
            self._world._sync(self)
            self._running = False

    def clear_volumes(self) -> None:
        with self._world._lock:
            self._world._sync(self)
            self._infused = self._withdrawn = 0.0

    def refill(self, contents: str, volume_uL: float) -> None:
        """A filled syringe of *volume_uL* holding *contents* is fitted (same diameter)."""
        if not volume_uL > 0:
            raise ValueError(f"pump {self.name}: syringe volume must be positive, got {volume_uL}")
        with self._world._lock:
            self._world._sync(self)
            self._contents, self._contents_uL = contents, float(volume_uL)
            self._volume = max(self._volume, float(volume_uL))
            self._stalled = False

    # -- physics --------------------------------------------------------------------------------------
    def _scale(self) -> float:
        return (self.syringe_diameter_mm / self._diameter) ** 2

    def _limit_left(self) -> float:
        """Commanded volume the plunger can still move before the syringe is empty (or full)."""
        room = self._contents_uL if self._direction == "infuse" else self._volume - self._contents_uL
        return room / self._scale()

    def _set_blocked(self, flag: bool) -> None:
        self._blocked = flag
        if flag and self._running:
            self._running, self._stalled = False, True

    def _advance(self, dt: float) -> None:
        if not self._running or dt <= 0:
            return
        want = self._rate * dt / 3600.0
        stop = stall = False
        to_target = self._target - self._moved if self._target is not None else math.inf
        left = self._limit_left()
        if to_target <= left:
            if want >= to_target:
                want, stop = to_target, True
        elif want >= left:
            want, stop, stall = left, True, True
        self._moved += want
        real = want * self._scale()
        if self._direction == "infuse":
            self._contents_uL = max(self._contents_uL - real, 0.0)
            self._infused += want
            if real > 0 and self.feeds:
                self._world._deliver(self.feeds, self._contents, real)
        else:
            self._contents_uL = min(self._contents_uL + real, self._volume)
            self._withdrawn += want
        if stop:
            self._running = False
            self._stalled = stall
