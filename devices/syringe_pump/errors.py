"""Typed pump errors: one class per error reply and alarm, each keeping the pump's own words.

Both pump families map onto these so a plan can catch ``PumpStalled`` whichever pump it drives.
"""

from __future__ import annotations

from labctl.devices.errors import InstrumentError


class PumpCommandError(InstrumentError):
    """The pump refused a command (an error reply); nothing was changed."""


class UnknownCommand(PumpCommandError):
    """The pump does not know the command (New Era ``?``, Harvard "Unknown command")."""


class NotApplicable(PumpCommandError):
    """Valid command, wrong moment, e.g. changing the diameter while pumping (``?NA``, "Command error")."""


class OutOfRange(PumpCommandError):
    """An argument outside what the pump accepts (``?OOR``, "Out of range")."""


class ArgumentError(PumpCommandError):
    """An argument the pump could not read (Harvard "Argument error")."""


class CommunicationError(PumpCommandError):
    """The pump received a corrupted safe-mode packet (``?COM``)."""


class CommandIgnored(PumpCommandError):
    """The pump ignored the command (``?IGN``)."""


class PumpAlarm(InstrumentError):
    """The pump raised an alarm; the command that met it was not executed. ``code`` is the alarm letter."""

    code = ""


class PumpReset(PumpAlarm):
    """Power was interrupted: settings may be lost (``A?R``)."""

    code = "R"


class PumpStoppedUnasked(PumpAlarm):
    """The pump stopped by itself while labctl had it running, short of any target and with no stall: a
    power interruption (the Harvard pumps raise no alarm for it) or somebody at its keypad."""


class PumpStalled(PumpAlarm):
    """The motor stalled: syringe empty or full, line blocked (``A?S``, Harvard ``*`` prompt)."""

    code = "S"


class SafeModeTimeout(PumpAlarm):
    """No valid packet within the safe-mode watchdog period; the pump stopped itself (``A?T``)."""

    code = "T"


class ProgramError(PumpAlarm):
    """The pumping program could not run (``A?E``)."""

    code = "E"


class PhaseOutOfRange(PumpAlarm):
    """The pumping program reached a phase that does not exist (``A?O``)."""

    code = "O"


ALARMS = {cls.code: cls for cls in (PumpReset, PumpStalled, SafeModeTimeout, ProgramError, PhaseOutOfRange)}
