"""The simulated lab's physical world: cells, potentiostat channels, pumps, valve, MFC, gas line, MS.

Simulators (``labctl.sim.serial``) and SDK fakes (``labctl.sim.sdk``) act on it only through these names
(see ``docs/world-api.md`` for the interface and ``docs/simulated-lab.md`` for the physics)::

    world = World(clock, seed=0, noise=1.0)
    world.add_cell(name, kind, electrolyte, area_cm2, channel=None); world.cell(name); world.connect(ch, cell)
    world.channel("vmp3:1").load([Step("cc", value=-1e-3, charge_limit=3.2)]); ch.start(); ch.drain()
    world.pump(name, diameter_mm=, volume_uL=, contents=, feeds=); world.valve(name); world.mfc(name)
    world.mass_spec(name); world.add_selector(name, positions=, lines=, dead_volume_mL=, position=);
    world.selector(name); world.gas.connect_vessel(name); world.titration; world.inject_fault(target, fault)
"""

from labctl.sim.world.cell import KINDS
from labctl.sim.world.channel import EisSample, Limit, PotentiostatChannel, Sample, Step, eis_point_time
from labctl.sim.world.fluidics import SyringePump
from labctl.sim.world.gas import FlowController, GasPort, TitrationVial, Valve
from labctl.sim.world.ms import MassSpec
from labctl.sim.world.params import ELECTROLYTES, FARADAY, MOLAR_VOLUME_ML, SPECIES, Electrolyte
from labctl.sim.world.selector import StreamSelector
from labctl.sim.world.world import CellView as Cell
from labctl.sim.world.world import World

__all__ = [
    "Cell", "ELECTROLYTES", "EisSample", "Electrolyte", "FARADAY", "FlowController", "GasPort", "KINDS", "Limit",
    "MOLAR_VOLUME_ML", "MassSpec", "PotentiostatChannel", "SPECIES", "Sample", "Step", "StreamSelector", "SyringePump",
    "TitrationVial", "Valve", "World", "eis_point_time",
]
