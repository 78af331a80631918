"""The lab profile and the connected devices describe the instruments alike, so a plan call is checked the same
before anything connects (the CLI) and against the devices (the plan itself)."""

from __future__ import annotations

import pytest

from labctl.devices.errors import LimitError
from labctl.plans import ParameterError, check_plan
from labctl.plans.dems import dems
from labctl.plans.liquid_cell import liquid_cell_operando

FACTS = ("electrode_area_cm2", "rate_range_uL_h", "position_names", "gases", "setpoint_range_mL_min")


def test_profile_and_devices_give_the_same_descriptions(lab):
    from_profile = lab.profile.descriptions()
    assert set(from_profile) == set(lab.devices)
    for name, device in lab.devices.items():
        connected, declared = device.instrument_description(), from_profile[name]
        assert (connected.name, connected.kind) == (declared.name, declared.kind)
        for fact in FACTS:
            assert getattr(connected, fact) == pytest.approx(getattr(declared, fact)), (name, fact)
        if connected.kind == "potentiostat":
            assert dict(connected.limits) == dict(declared.limits)


@pytest.mark.parametrize("plan, params, error", [
    (dems, {"pstat": "vmp3_2", "valve": "dems_valve", "ms": "ms", "mfc": "mfc", "clock": "clock",
            "current_density": "1 mA/cm^2", "cycle_targets": [1, 3]}, None),
    (dems, {"pstat": "vmp3_2", "valve": "dems_valve", "ms": "ms", "mfc": "mfc", "clock": "clock",
            "strip_cutoff": "12 V"}, LimitError),
    (liquid_cell_operando, {"pstat": "ref600", "pump": "pump", "clock": "clock", "operator": "operator",
                            "imaging_rate": "5000 uL/h"}, LimitError),
    (liquid_cell_operando, {"pstat": "ref600", "pump": "d2o_pump", "clock": "clock", "operator": "operator",
                            "flush_rate": "100 mL/h"}, LimitError),
])
def test_a_call_checks_alike_by_name_and_with_the_devices(lab, plan, params, error):
    by_device = {k: lab.devices.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    if error is None:
        devices = {k for k, v in params.items() if isinstance(v, str) and v in lab.devices}
        named, connected = check_plan(plan, params, lab.profile.descriptions()), check_plan(plan, by_device)
        assert {k: v for k, v in named.values.items() if k not in devices} == \
            {k: v for k, v in connected.values.items() if k not in devices}
        return
    with pytest.raises(error) as by_name:
        check_plan(plan, params, lab.profile.descriptions())
    with pytest.raises(error) as with_devices:
        check_plan(plan, by_device)
    assert str(by_name.value) == str(with_devices.value)
    assert isinstance(by_name.value, ParameterError)
