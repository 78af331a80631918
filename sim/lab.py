"""The simulated lab: one clock, one physical world, the operator, and simulators plugged in on demand.

``SimLab(config)`` takes the profile's ``[sim]`` table. Protocol simulators and SDK fakes are looked up
lazily by module path, so the lab works with whichever of them are installed.
"""

from __future__ import annotations

import importlib

from labctl.sim import state as sim_state
from labctl.sim.clock import SimClock
from labctl.sim.world import World

SERIAL_CORES = {
    "newera.ne1000": "labctl.sim.serial.newera:NE1000",
    "harvard.phd_ultra": "labctl.sim.serial.harvard:PhdUltra",
    "vici.two_position": "labctl.sim.serial.vici:ViciValve",
    "vici.multiposition": "labctl.sim.serial.vici:ViciSelector",
    "bronkhorst.propar": "labctl.sim.serial.bronkhorst:ProparInstrument",
    "srs.rga": "labctl.sim.serial.srs:RGA",
    "pfeiffer.qmg220": "labctl.sim.serial.pfeiffer:Qmg",
}
ECLIB = "labctl.sim.sdk.biologic:FakeEClib"
GAMRYCOM = "labctl.sim.sdk.gamry:FakeGamryCOM"


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


class SimLab:
    """The simulated lab of a profile's ``[sim]`` table; with *state* (from :meth:`snapshot`), the same lab
    again, at the lab time it was saved (see :mod:`labctl.sim.state`)."""

    def __init__(self, config: dict | None = None, *, state: bytes | None = None):
        config = dict(config or {})
        accel = config.get("acceleration", 0)
        if accel is None or accel == 0:
            accel = None
        elif not float(accel) > 0:
            raise ValueError(f"[sim] acceleration must be 0 (as fast as possible) or positive, got {accel}")
        start = config.get("start")   # lab time at start-up (s since the epoch); default: the wall time
        if state is not None:
            start = sim_state.header(state)["lab_time"]
        self.clock = SimClock(start=None if start is None else float(start),
                              acceleration=accel if accel is None else float(accel))
        self.operator = None
        self.cores: dict = {}
        self._gamrycom = None
        if state is not None:
            saved = sim_state.load(state, self.clock)
            self.world, self._eclibs = saved["world"], saved["eclibs"]
            self.operator = SimOperator(self.world)
            for channel in list(self.world._channels.values()):
                # a VMP3 runs its technique without a computer; a Gamry's experiment is run by the computer's
                # software, so it ended with the process that ran it
                if channel.name.split(":")[0] not in self._eclibs and channel.state == "run":
                    channel.stop()
            return
        self._eclibs: dict = {}
        self.world = World(self.clock, seed=int(config.get("seed", 0)), noise=float(config.get("noise", 1.0)))
        for name, spec in (config.get("cells") or {}).items():
            self.world.add_cell(name, spec.get("kind", "coin"), spec.get("electrolyte", "ecdmc"),
                                float(spec.get("area_cm2", 1.0)), spec.get("channel"))
        for name, spec in (config.get("selectors") or {}).items():
            self.world.add_selector(name, lines=dict(spec.get("lines") or {}),
                                    dead_volume_mL=float(spec.get("dead_volume_mL", 0.1)),
                                    position=int(spec.get("position", 1)))
        vessel = (config.get("gas") or {}).get("vessel")
        if vessel is not None:
            self.world.gas.connect_vessel(vessel)
        self.operator = SimOperator(self.world)

    def snapshot(self) -> bytes:
        """The lab's state now, for a later ``SimLab(config, state=...)``; see :mod:`labctl.sim.state`."""
        return sim_state.dump(self)

    def serial(self, name: str, driver: str, options: dict | None = None) -> str:
        """Register the protocol simulator for *driver* under *name*; returns its ``sim://`` URL."""
        if name in self.cores:
            return f"sim://{name}"
        try:
            path = SERIAL_CORES[driver]
        except KeyError:
            raise ValueError(f"no protocol simulator for driver {driver!r}; known: {sorted(SERIAL_CORES)}") from None
        core = _load(path)(name, self.world, **dict(options or {}))
        from labctl.sim.serial import install_url_handler, register

        install_url_handler()
        register(name, core)
        self.cores[name] = core
        return f"sim://{name}"

    def eclib(self, address: str):
        """The EClib fake serving the simulated instrument at *address*: one per address, as one DLL is
        loaded once per process and every channel's device shares its connection."""
        if address not in self._eclibs:
            self._eclibs[address] = _load(ECLIB)(self.world, address)
        return self._eclibs[address]

    def gamrycom(self):
        """The GamryCOM fake: one per lab, like the COM server every device object comes from."""
        if self._gamrycom is None:
            self._gamrycom = _load(GAMRYCOM)(self.world)
        return self._gamrycom

    def close(self) -> None:
        from labctl.sim.serial import unregister

        for name in list(self.cores):
            unregister(name)
            del self.cores[name]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SimOperator:
    """Does what the person at the bench does at an operator checkpoint, to the world."""

    def __init__(self, world: World):
        self.world = world
        self.log: list[dict] = []

    def perform(self, action: str, **params) -> dict:
        handler = getattr(self, "_" + action, None) if not action.startswith("_") else None
        if handler is None:
            raise ValueError(f"the simulated operator cannot {action!r}; known actions: {', '.join(self.actions())}")
        try:
            done = handler(**params)
        except TypeError as exc:
            raise ValueError(f"operator action {action!r}: {exc}") from None
        record = {"action": action, "t": self.world.now(), **done}
        self.log.append(record)
        return record

    @classmethod
    def actions(cls) -> list[str]:
        return sorted(n[1:] for n in vars(cls) if n.startswith("_") and not n.startswith("__"))

    def _assemble_cell(self, name: str, kind: str = "coin", electrolyte: str = "ecdmc", area_cm2: float = 1.767,
                       channel: str | None = None) -> dict:
        self.world.add_cell(name, kind, electrolyte, float(area_cm2), channel)
        if kind == "dems" and self.world.gas.vessel in (None, name):
            self.world.gas.connect_vessel(name)
        return {"cell": name, "kind": kind, "electrolyte": electrolyte, "area_cm2": float(area_cm2),
                "channel": channel}

    def _transfer_to_titration(self, cell: str) -> dict:
        for ch in list(self.world._channels.values()):
            if ch._cell is not None and ch._cell.name == cell:
                self.world.connect(ch.name, None)
        self.world.titration.load(cell)
        self.world.gas.connect_vessel("titration")
        return {"cell": cell, "vessel": "titration"}

    def _inject_d2o(self, volume_uL: float) -> dict:
        self.world.titration.inject_d2o(float(volume_uL))
        return {"volume_uL": float(volume_uL)}

    def _connect_vessel(self, name: str) -> dict:
        self.world.gas.connect_vessel(name)
        return {"vessel": name}

    def _swap_syringe(self, pump: str, contents: str, volume_uL: float | None = None) -> dict:
        """A full syringe of *contents* (the syringe's capacity unless *volume_uL* is given)."""
        if pump not in self.world._pumps:
            raise ValueError(f"no pump named {pump!r}")
        syringe = self.world.pump(pump)
        volume_uL = syringe.volume_uL if volume_uL is None else volume_uL
        syringe.refill(contents, float(volume_uL))
        return {"pump": pump, "contents": contents, "volume_uL": float(volume_uL)}

    def _start_imaging(self, **what) -> dict:
        return {"imaging": True, **what}

    def _stop_imaging(self, **what) -> dict:
        return {"imaging": False, **what}

    def _capture_topography(self, **what) -> dict:
        return {"topography": True, **what}
