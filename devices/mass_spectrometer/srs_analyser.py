"""An SRS RGA as a :class:`~.analyser.GasAnalyser`: multiple-ion monitoring over the watched parent masses."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from labctl.devices.clock import Clock
from labctl.devices.errors import LimitError
from labctl.devices.mass_spectrometer.analyser import FilamentWatch, GasReading, checked_masses
from labctl.devices.mass_spectrometer.cracking import RELATIVE_SENSITIVITY, PartialPressureModel, fractions
from labctl.devices.mass_spectrometer.srs import SrsRga


def _check_limit(limits: Mapping, key: str, value: float, what: str, unit: str, name: str) -> None:
    bounds = limits.get(key)
    if bounds is not None:
        lo, hi = bounds
        if not lo <= value <= hi:
            raise LimitError(f"{name}: {what} {value:g} {unit} is outside the profile's limits [{lo:g}, {hi:g}] {unit}")


class RgaAnalyser:
    """Watches gases at their parent m/z on an :class:`SrsRga` and converts currents to partial pressures.

    ``sensitivities`` (A/Torr at the parent peak on the Faraday cup at ``emission_mA``, as calibrated) are
    stored per gas. A gas without one is calibrated by ``calibration(gas) -> A/Torr`` (a gas standard: the
    callable is asked each time the filament comes on, since sensitivity needs ions) or, failing that, gets
    the RGA's own partial-pressure sensitivity ``SP`` scaled by its ionisation factor relative to N2.
    ``fragments`` adds or overrides fragment patterns ({gas: {m/z: fraction of parent}}). With
    ``multiplier_V`` the CDEM comes on with the filament at that voltage and its gain is divided out: the stored
    gain (``MG``) at
    the stored voltage (``MV``), else a gain measured on the strongest watched peak (CDEM against Faraday cup).
    ``limits`` (the profile's) may bound ``emission_mA`` and ``multiplier_V``.

    While the filament should be on (switched on here, or found on), every reading also asks ``FL?``: an RGA
    that lost its power comes back with the filament off and a clean STATUS byte, so only the emission read
    back tells zero currents from no gas (:class:`~.analyser.FilamentWentOff`, watched by
    :class:`~.analyser.FilamentWatch`).
    """

    def __init__(self, rga: SrsRga, clock: Clock, gases: Mapping[str, int], *, emission_mA: float = 1.0,
                 noise_floor: int | None = None, sensitivities: Mapping[str, float] | None = None,
                 fragments: Mapping[str, Mapping[int, float]] | None = None, multiplier_V: float | None = None,
                 limits: Mapping | None = None, calibration: Callable[[str], float] | None = None):
        self.rga = rga
        self.clock = clock
        self.name = rga.name
        self.limits = dict(limits or {})
        _check_limit(self.limits, "emission_mA", emission_mA, "emission current", "mA", self.name)
        if not 0 < emission_mA <= 3.5:
            raise LimitError(f"{self.name}: emission current {emission_mA} mA outside (0, 3.5] mA")
        self._emission = float(emission_mA)
        self._sensitivities = dict(sensitivities or {})
        self._fragments = {g: dict(p) for g, p in (fragments or {}).items()}
        self._calibration = calibration
        self._calibrated: dict[str, float] = {}
        self._lock = threading.RLock()
        self.identity = rga.identify()
        if noise_floor is not None:
            rga.set_noise_floor(noise_floor)
        self._gain = 1.0
        self._hv_on = False
        self._filament = FilamentWatch(self.name, "RGA")
        self._sp = None
        self.watch(gases)
        if multiplier_V:
            _check_limit(self.limits, "multiplier_V", multiplier_V, "multiplier voltage", "V", self.name)
        self._multiplier_V = multiplier_V or None

    @property
    def gases(self) -> dict[str, int]:
        return dict(self._model.gases)

    @property
    def emission_mA(self) -> float:
        return self._emission

    def watch(self, gases: Mapping[str, int]) -> None:
        gases = checked_masses(self.name, gases, self.identity.max_mass)
        sensitivities = {}
        for gas in gases:
            if gas in self._sensitivities:
                sensitivities[gas] = float(self._sensitivities[gas])
            elif gas in self._calibrated:
                sensitivities[gas] = self._calibrated[gas]
            else:
                if self._sp is None:
                    self._sp = self.rga.partial_pressure_sensitivity()
                sensitivities[gas] = self._sp * RELATIVE_SENSITIVITY.get(gas, 1.0)
        model = PartialPressureModel(gases, sensitivities, self._fragments)
        with self._lock:
            self._model = model

    def read(self) -> GasReading:
        with self._lock:
            model, gain = self._model, self._gain
            with self.rga.port.lock:
                measured = self.rga.ion_currents(model.masses)
                total = self.rga.total_pressure(gain)
                emission = self.rga.emission_mA() if self._filament.expected else None
            now = self.clock.now()
        if emission is not None:
            self._filament.check(emission, self._emission, f"FL?={emission:g}")
        currents = {mz: amps / gain for mz, amps in measured.items()}
        pressures = model.pressures(currents)
        return GasReading(time=now, pressures=pressures, fractions=fractions(pressures), currents=currents,
                          total_pressure=total)

    @property
    def filament(self) -> bool:
        on = self.rga.emission_mA() > 0
        self._filament.seen(on)
        return on

    def filament_on(self) -> None:
        """Emission on; then the CDEM, if configured (its gain is only measurable with ions to amplify)."""
        self.rga.filament_on(self._emission)
        self._filament.switched(True)
        if self._calibration is not None:
            self._calibrate()
        if self._multiplier_V:
            self.multiplier_on(self._multiplier_V)

    def filament_off(self) -> None:
        """Emission off, and the CDEM high voltage with it if the multiplier is in use (``HV0``, then ``FL0``);
        the filament is switched off even if the multiplier refuses."""
        self._filament.switched(False)
        try:
            if self.multiplier_in_use:
                self.multiplier_off()
        finally:
            self.rga.filament_off()

    @property
    def multiplier_in_use(self) -> bool:
        """The CDEM is configured (``multiplier_V``) or was switched on here: off means its high voltage off too."""
        return bool(self._multiplier_V) or self._hv_on

    def _calibrate(self) -> None:
        """Sensitivities for the watched gases without a stored one (Faraday cup, present emission)."""
        for gas in self.gases:
            if gas in self._sensitivities:
                continue
            try:
                value = float(self._calibration(gas))
            except (KeyError, ValueError):
                continue  # no standard for this gas: the SP estimate stays
            if value > 0:
                self._calibrated[gas] = value
        self.watch(self.gases)

    def multiplier_on(self, volts: float) -> float:
        """CDEM on at *volts*; returns the gain that will be divided out of every reading."""
        _check_limit(self.limits, "multiplier_V", volts, "multiplier voltage", "V", self.name)
        stored_V, stored_gain = self.rga.stored_multiplier()
        if round(volts) == stored_V:
            self._hv_on = True
            self.rga.multiplier_on()
            gain = stored_gain
        else:
            gain = self.measure_gain(volts)
        with self._lock:
            self._gain = gain
        return gain

    def measure_gain(self, volts: float) -> float:
        """Gain at *volts*: the strongest watched peak read on the Faraday cup, then on the CDEM.

        Needs the filament on; leaves the CDEM on at *volts*.
        """
        masses = self._model.masses
        with self.rga.port.lock:
            self.rga.multiplier_off()
            faraday = self.rga.ion_currents(masses)
            mz = max(faraday, key=faraday.get)
            if faraday[mz] <= 0:
                raise ValueError(f"{self.name}: no ion current to calibrate the multiplier on (filament off?)")
            self._hv_on = True
            self.rga.multiplier_on(int(round(volts)))
            amplified = self.rga.ion_currents([mz])[mz]
        return amplified / faraday[mz]

    def multiplier_off(self) -> None:
        self.rga.multiplier_off()
        with self._lock:
            self._gain = 1.0
        self._hv_on = False
        self._filament.switched(False)

    def close(self) -> None:
        self.rga.close()
