"""Mass-flow controllers: the Bronkhorst propar driver and the MFC device."""

from labctl.devices.flow_controller.bronkhorst import Parameter, Propar, ProparError
from labctl.devices.flow_controller.device import MassFlowController

__all__ = ["MassFlowController", "Parameter", "Propar", "ProparError"]
