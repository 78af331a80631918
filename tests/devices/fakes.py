"""Small fake drivers, in memory: device tests that need no physics run against these (a mock mode, as dodal's
devices have), so they test the device's own logic fast and without a simulated world."""

from __future__ import annotations

from labctl.devices.clock import Clock, WallClock
from labctl.devices.syringe_pump.settings import syringe_rates
from labctl.devices.valve.vici import ValveStuck


class FakeValveDriver:
    """A two-position actuator: a move takes no time unless ``stuck``; ``moves`` is every port it was sent to."""

    def __init__(self, name: str = "valve", clock: Clock | None = None, position: str = "A"):
        self.name, self.clock, self._position = name, clock or WallClock(), position
        self.moves: list[str] = []
        self.stuck = False
        self.closed = False

    def position(self) -> str:
        return self._position

    def move(self, target: str) -> str:
        self.moves.append(target)
        if self.stuck:
            raise ValveStuck(self.name, f"valve still at {self._position}; is it stuck?", f"CP{self._position}")
        self._position = target
        return target

    def close(self) -> None:
        self.closed = True


class FakePumpDriver:
    """A syringe pump whose volumes follow its clock: ``dispensed`` is rate x running time, per direction."""

    def __init__(self, name: str = "pump", clock: Clock | None = None, *, diameter_mm: float = 4.78,
                 speeds_mm_h: tuple[float, float] = (0.0407, 2733.0)):
        self.name, self.clock = name, clock or WallClock()
        self._diameter, self._speeds = diameter_mm, speeds_mm_h
        self._rate, self._direction, self._target = 0.0, "infuse", 0.0
        self._since: float | None = None
        self._volumes = {"infuse": 0.0, "withdraw": 0.0}
        self.commands: list[str] = []
        self.closed = False

    def _settle(self) -> None:
        if self._since is not None:
            now = self.clock.now()
            self._volumes[self._direction] += self._rate * (now - self._since) / 3600.0
            self._since = now

    def rate_limits_uL_h(self, diameter_mm: float) -> tuple[float, float]:
        return syringe_rates(diameter_mm, *self._speeds)

    def rate(self) -> float:
        return self._rate

    def set_rate(self, uL_h: float) -> None:
        self._settle()
        self.commands.append(f"rate {uL_h:g}")
        self._rate = uL_h

    def direction(self) -> str:
        return self._direction

    def set_direction(self, direction: str) -> None:
        self._settle()
        self.commands.append(f"direction {direction}")
        self._direction = direction

    def diameter(self) -> float:
        return self._diameter

    def set_diameter(self, mm: float) -> None:
        self._diameter = mm

    def target_volume(self) -> float:
        return self._target

    def set_target_volume(self, uL: float) -> None:
        self._target = uL

    def run(self) -> None:
        self.commands.append("run")
        self._since = self.clock.now()

    def stop(self) -> None:
        self._settle()
        self.commands.append("stop")
        self._since = None

    def status(self) -> str:
        if self._since is None:
            return "stopped"
        return "infusing" if self._direction == "infuse" else "withdrawing"

    def running(self) -> bool:
        return self._since is not None

    def dispensed(self) -> tuple[float, float]:
        self._settle()
        return self._volumes["infuse"], self._volumes["withdraw"]

    def clear_dispensed(self) -> None:
        self._settle()
        self._volumes = {"infuse": 0.0, "withdraw": 0.0}

    def close(self) -> None:
        self.closed = True
