"""The simulated lab's physical world, stepped lazily by the shared SimClock.

Every accessor first brings what it reads up to ``clock.now()`` under one lock. The world is stepped by
coupled parts: a potentiostat channel with its cell, a syringe pump with what it feeds, the gas side (valves,
MFCs, line, titration vial, MS) with the cell on the gas port. Each part keeps its own world time and is
stepped only when something of it is read or moved, so an experiment's data depend on its own steps alone,
never on what other experiments sharing the lab do meanwhile. Stepping runs the potentiostat firmware, pumps,
titration chemistry, MFC and gas line over the elapsed interval; it is cut at valve arrivals and, while gas
flows from a vessel that is still producing gas, into pieces of at most ``COUPLED_STEP`` so that gas made in
one piece is swept in the next.
"""

from __future__ import annotations

import threading
import zlib

import numpy as np

from labctl.sim.world.cell import Cell
from labctl.sim.world.channel import PotentiostatChannel
from labctl.sim.world.fluidics import SyringePump
from labctl.sim.world.gas import FlowController, GasPort, TitrationVial, Valve
from labctl.sim.world.ms import MassSpec
from labctl.sim.world.params import SPECIES
from labctl.sim.world.selector import StreamSelector

COUPLED_STEP = 1.0      # s

FAULTS = {
    "pump": ("stall", "blocked"),
    "valve": ("stuck",),
    "selector": ("stuck",),
    "ms": ("filament_burned",),
    "channel": ("unplugged",),
    "mfc": ("blocked",),
    "gas": ("leak",),
}


class World:
    """The simulated world: cells, channels, pumps, gas line and MS, stepped lazily to the clock's time."""

    def __init__(self, clock, seed: int = 0, noise: float = 1.0):
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.clock, self.seed, self.noise = clock, int(seed), float(noise)
        self._lock = threading.RLock()
        self._cells: dict[str, Cell] = {}
        self._channels: dict[str, PotentiostatChannel] = {}
        self._pumps: dict[str, SyringePump] = {}
        self._valves: dict[str, Valve] = {}
        self._selectors: dict[str, StreamSelector] = {}
        self._mfcs: dict[str, FlowController] = {}
        self._ms: dict[str, MassSpec] = {}
        self.gas = GasPort(self)
        self.gas._wt = clock.now()
        self.titration = TitrationVial(self)
        self._busy = False
        self._views: dict[str, CellView] = {}

    def _rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    # -- time -----------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def _sync(self, *parts) -> None:
        """Bring *parts* (channels, pumps, cells, the gas port; all when none is named) and everything
        coupled to them up to the clock."""
        with self._lock:
            if self._busy:
                return
            target = self.clock.now()
            if parts and all(self._unit_of(p)._wt >= target for p in parts):
                return   # parts stepped together share their time: whatever is coupled to these is up to date
            units = self._coupled_to(parts) if parts else self._units()
            if any(u._wt < target for u in units):
                self._busy = True
                try:
                    self._advance(units, target)
                finally:
                    self._busy = False

    def _unit_of(self, part):
        """What keeps the world time of *part* (the gas side keeps it for valves, MFCs, the MS and the vial)."""
        gas_side = (Valve, StreamSelector, FlowController, MassSpec)
        return self.gas if part is self.titration or isinstance(part, gas_side) else part

    def _units(self) -> list:
        return [*self._channels.values(), *self._cells.values(), *self._pumps.values(), self.gas]

    def _coupled_to(self, parts) -> list:
        """The parts that must be stepped together with *parts* (a channel drives its cell; a cell on the gas
        port is swept by the line; a pump delivers into what it feeds)."""
        seen: dict[int, object] = {}
        stack = [self._unit_of(p) for p in parts]
        while stack:
            unit = stack.pop()
            if id(unit) in seen:
                continue
            seen[id(unit)] = unit
            if isinstance(unit, PotentiostatChannel):
                stack += [unit._cell] if unit._cell is not None else []
            elif isinstance(unit, Cell):
                stack += [ch for ch in self._channels.values() if ch._cell is unit]
                stack += [p for p in self._pumps.values() if p.feeds == unit.name]
                if self.gas._vessel == unit.name:
                    stack.append(self.gas)
            elif isinstance(unit, SyringePump):
                if unit.feeds == "titration":
                    stack.append(self.gas)
                elif unit.feeds in self._cells:
                    stack.append(self._cells[unit.feeds])
            elif unit is self.gas:
                vessel = self.gas._vessel
                if vessel is not None and vessel != "titration" and vessel in self._cells:
                    stack.append(self._cells[vessel])
                stack += [p for p in self._pumps.values() if p.feeds == "titration"]
        return list(seen.values())

    def _coupled(self) -> bool:
        if self._vessel_sweeps():
            vessel = self.gas._vessel
            if vessel == "titration":
                return self.titration._active()
            return True
        return False

    def _vessel_sweeps(self) -> bool:
        if self.gas._vessel is None:
            return False
        return any(v._position == "B" for v in self._valves.values())

    def _advance(self, units: list, target: float) -> None:
        channels = [u for u in units if isinstance(u, PotentiostatChannel)]
        cells = [u for u in units if isinstance(u, Cell)]
        pumps = [u for u in units if isinstance(u, SyringePump)]
        gas = self.gas in units
        t = min(u._wt for u in units)
        while t < target:
            t_next = target
            if gas:
                for v in [*self._valves.values(), *self._selectors.values()]:
                    ev = v._next_event()
                    if ev is not None and ev < t_next:
                        t_next = max(ev, t)
                if self._coupled():
                    t_next = min(t_next, t + COUPLED_STEP)
            for ch in channels:
                ch._advance(t_next)
                ch._wt = max(ch._wt, t_next)
            for cell in cells:
                if t_next > cell._wt:
                    cell._emit("CO2", cell.el.gas_rest * cell.area_cm2 * (t_next - cell._wt))
                    cell._wt = t_next
            for p in pumps:
                if t_next > p._wt:
                    p._advance(t_next - p._wt)
                    p._wt = t_next
            if gas and t_next > self.gas._wt:
                dt = t_next - self.gas._wt
                self.titration._advance(dt)
                vol = std_vol = 0.0
                std_mol = np.zeros(len(SPECIES))
                for m in self._mfcs.values():
                    v = m._volume(dt)
                    if m.composition is None:
                        vol += v
                    else:
                        std_vol += v
                        std_mol += v * m.composition
                std_x = std_mol / std_vol if std_vol > 0 else None
                self.gas._advance(vol, self._vessel_sweeps(), dt, std_vol, std_x)
                for s in self._selectors.values():
                    s._flow(vol + std_vol)
                self.gas._wt = t_next
            dt = t_next - t
            t = t_next
            if gas:
                for v in [*self._valves.values(), *self._selectors.values()]:
                    v._event(t_next)
            if dt == 0 and t_next >= target:
                break

    # -- construction and lookup ----------------------------------------------------------------------
    def add_cell(self, name: str, kind: str, electrolyte: str, area_cm2: float, channel: str | None = None) -> Cell:
        with self._lock:
            now = self.clock.now()
            if name in self._cells:   # a cell assembled anew replaces the old one: bring that one up to now
                self._sync(self._cells[name])
            inner = Cell(name, kind, electrolyte, area_cm2, now)
            inner._wt = now
            if name == self.gas._vessel:
                self._sync(self.gas)
            cell = CellView(self, inner)
            self._cells[name] = cell._cell
            self._views[name] = cell
            if channel is not None:
                self.connect(channel, name)
            return cell

    def cell(self, name: str) -> CellView:
        with self._lock:
            try:
                return self._views[name]
            except KeyError:
                raise KeyError(f"no cell named {name!r} (cells: {sorted(self._cells)})") from None

    def cells(self) -> list[str]:
        with self._lock:
            return sorted(self._cells)

    def channel(self, name: str) -> PotentiostatChannel:
        with self._lock:
            ch = self._channels.get(name)
            if ch is None:
                ch = self._channels[name] = PotentiostatChannel(self, name, self._rng("channel:" + name))
                ch._wt = self.clock.now()
            return ch

    def connect(self, channel_name: str, cell_name: str | None) -> None:
        with self._lock:
            ch = self.channel(channel_name)
            cell = None
            if cell_name is not None:
                if cell_name not in self._cells:
                    raise KeyError(f"no cell named {cell_name!r} (cells: {sorted(self._cells)})")
                cell = self._cells[cell_name]
            self._sync(ch, *([cell] if cell is not None else []))
            if cell is not None:
                for other in self._channels.values():   # a cell sits on one channel
                    if other is not ch and other._cell is cell:
                        other._plug(None)
            ch._plug(cell)

    def pump(self, name: str, *, diameter_mm: float = 4.78, volume_uL: float = 1000.0,
             contents: str = "electrolyte", feeds: str | None = None) -> SyringePump:
        with self._lock:
            p = self._pumps.get(name)
            if p is None:
                p = self._pumps[name] = SyringePump(self, name, diameter_mm=diameter_mm, volume_uL=volume_uL,
                                                    contents=contents, feeds=feeds)
                p._wt = self.clock.now()
                self._sync(p)
            return p

    def valve(self, name: str) -> Valve:
        with self._lock:
            v = self._valves.get(name)
            if v is None:
                self._sync(self.gas)
                v = self._valves[name] = Valve(self, name)
            return v

    def add_selector(self, name: str, *, lines: dict, dead_volume_mL: float, position: int = 1,
                     positions: int | None = None) -> StreamSelector:
        """Plumb the stream selector *name* in front of the MS inlet: ``lines`` maps its ports to what they
        carry (see :mod:`labctl.sim.world.selector`); the rotor starts at *position*. Its number of
        positions is the instrument's (set when its simulator attaches); until then, the highest port named."""
        with self._lock:
            feeding = [s.name for s in self._selectors.values() if s.feeds_ms and s.name != name]
            if feeding:
                raise ValueError(f"selector {name}: the MS inlet is already behind selector {feeding[0]!r}")
            if positions is None:
                ports = [int(p) for p in lines if str(p).strip().isdigit()]
                positions = max([2, *ports, position if isinstance(position, int) else 0])
            self._sync(self.gas)
            s = self._selectors[name] = StreamSelector(self, name, positions=positions, lines=lines,
                                                       dead_volume_mL=dead_volume_mL, position=position)
            return s

    def selector(self, name: str, *, positions: int | None = None) -> StreamSelector:
        """The stream selector *name*; one nobody plumbed (:meth:`add_selector`) is made on first use with
        *positions* ports, turns, and feeds nothing."""
        with self._lock:
            s = self._selectors.get(name)
            if s is None:
                if positions is None:
                    raise KeyError(f"no stream selector named {name!r}")
                self._sync(self.gas)
                s = self._selectors[name] = StreamSelector(self, name, positions=positions)
            elif positions is not None and positions != s.positions:
                used = max([s._position, *s.lines])
                if positions < used:
                    raise ValueError(f"selector {name}: the simulated lab plumbs port {used}, "
                                     f"the instrument has {positions} positions")
                s.positions = positions
            return s

    def _ms_inlet_fractions(self) -> np.ndarray:
        """Mole fractions at the MS inlet: the gas-port line's, or through the selector in front of it."""
        x = self.gas._inlet_fractions()
        for s in self._selectors.values():
            if s.feeds_ms:
                return s._inlet_fractions(x)
        return x

    def mfc(self, name: str, *, capacity_mL_min: float = 5.0, fluid: str = "Ar",
            composition: dict[str, float] | None = None) -> FlowController:
        """The MFC called *name*: the carrier's, or with *composition* a gas standard's (joins after the valve)."""
        with self._lock:
            m = self._mfcs.get(name)
            if m is None:
                self._sync(self.gas)
                m = self._mfcs[name] = FlowController(self, name, capacity_mL_min, fluid, self._rng("mfc:" + name),
                                                      composition=composition)
            return m

    def mass_spec(self, name: str) -> MassSpec:
        with self._lock:
            m = self._ms.get(name)
            if m is None:
                self._sync(self.gas)
                m = self._ms[name] = MassSpec(self, name, self._rng("ms:" + name))
            return m

    # -- deliveries and faults ------------------------------------------------------------------------
    def _deliver(self, feeds: str, contents: str, volume_uL: float) -> None:
        if feeds == "titration":
            if contents.upper() == "D2O":
                self.titration._add_d2o(volume_uL)
        elif feeds in self._cells:
            self._cells[feeds]._exchange(contents, volume_uL)

    def inject_fault(self, target: str, fault: str | None = ..., /) -> None:
        """Break (or with ``fault=None`` heal) something: ``inject_fault("pump", "stall")`` or
        ``inject_fault("pump:stall")``; faults: pump stall|blocked, valve and selector stuck, ms filament_burned,
        channel unplugged, mfc blocked, gas leak (air into the line)."""
        if fault is ...:
            target, sep, fault = target.rpartition(":")
            if not sep:
                raise ValueError(f"give a fault for {fault!r}, e.g. inject_fault('{fault}', 'stall')")
        with self._lock:
            kind, obj = self._fault_target(target)
            self._sync(self.gas if kind == "gas" else obj)
            if fault is not None and fault not in FAULTS[kind]:
                raise ValueError(f"{target!r} ({kind}) cannot have fault {fault!r}; choose from {FAULTS[kind]}")
            on = fault is not None
            if kind == "pump":
                obj._set_blocked(on)
            elif kind in ("valve", "selector"):
                obj._stuck = on
            elif kind == "ms":
                obj._burn(on)
            elif kind == "channel":
                obj._set_unplugged(on)
            elif kind == "mfc":
                obj._blocked = on
            elif kind == "gas":
                obj.leak_mol_s = 1e-9 if on else 0.0

    def clear_fault(self, target: str) -> None:
        self.inject_fault(target, None)

    def _fault_target(self, target: str):
        for kind, table in (("pump", self._pumps), ("valve", self._valves), ("selector", self._selectors),
                            ("ms", self._ms),
                            ("channel", self._channels), ("mfc", self._mfcs)):
            if target in table:
                return kind, table[target]
        if target == "gas":
            return "gas", self.gas
        raise KeyError(f"nothing named {target!r} to break")


class CellView:
    """A cell as simulators see it: read-outs under the world lock, brought up to date first."""

    def __init__(self, world: World, cell: Cell):
        self._world, self._cell = world, cell
        self.name, self.kind, self.electrolyte, self.area_cm2 = cell.name, cell.kind, cell.electrolyte, cell.area_cm2

    def inventory(self) -> dict:
        with self._world._lock:
            self._world._sync(self._cell)
            return self._cell._inventory()

    def headspace(self) -> dict[str, float]:
        with self._world._lock:
            self._world._sync(self._cell)
            return self._cell._headspace.as_dict()

    def impedance(self, freq_Hz: float) -> complex:
        with self._world._lock:
            self._world._sync(self._cell)
            return self._cell._impedance(freq_Hz)

    def liquid(self) -> dict[str, float]:
        """Liquid cell: fraction of the electrolyte that is fresh, and salt relative to the electrolyte."""
        with self._world._lock:
            self._world._sync(self._cell)
            return {"fresh_fraction": self._cell.fresh_fraction, "salt_fraction": self._cell.salt_fraction}

    def ocv(self) -> float:
        with self._world._lock:
            self._world._sync(self._cell)
            return self._cell.ocv(self._cell._wt)

    def __repr__(self) -> str:
        return f"Cell({self.name!r}, kind={self.kind!r}, electrolyte={self.electrolyte!r}, area_cm2={self.area_cm2})"
