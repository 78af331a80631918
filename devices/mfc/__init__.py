"""Mass-flow controllers: the Bronkhorst propar driver and the MFC device."""

from .device import MassFlowController
from .propar import Parameter, Propar, ProparError

__all__ = ["MassFlowController", "Parameter", "Propar", "ProparError"]
