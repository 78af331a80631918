"""Mass-flow controllers: the Bronkhorst propar driver and the MFC device."""

from labctl.devices.flow_controller.device import MassFlowController
from labctl.devices.flow_controller.bronkhorst import Parameter, Propar, ProparError

__all__ = ["MassFlowController", "Parameter", "Propar", "ProparError"]
