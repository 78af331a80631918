"""Lab profiles: the packaged default loads, and every kind of mistake is one line naming file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.drivers import DRIVERS, KINDS
from labctl.profile import ProfileError, load_profile

BASE = """
[lab]
name = "test lab"

[sim]
seed = 1

[instruments.clock]
kind = "clock"
driver = "lab.clock"

[instruments.pstat]
kind = "potentiostat"
driver = "biologic.vmp3"
transport = "sim://vmp3"
options = { channel = 1, electrode_area_cm2 = 1.0 }
limits = { current_A = [-0.1, 0.1], voltage_V = [-5.0, 5.0] }
safe_state = { cell = "off" }

[instruments.pump]
kind = "syringe_pump"
driver = "newera.ne1000"
transport = "sim://pump"
options = { address = 0, baudrate = 19200, syringe_diameter_mm = 4.78, syringe_volume_uL = 1000.0 }
limits = { rate_uL_h = [1.0, 3000.0] }
safe_state = { running = false }

[instruments.valve]
kind = "valve"
driver = "vici.two_position"
transport = "sim://valve"
options = { positions = { A = "sealed", B = "sweep" } }
safe_state = { position = "sealed" }
"""


def write(tmp_path, text, name="lab.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path, text) -> ProfileError:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return info.value


def test_default_profile_is_the_papers_simulated_lab():
    profile = load_profile(None)
    assert profile.sim is not None and profile.sim["seed"] == 20230105
    kinds = {spec.kind for spec in profile.instruments.values()}
    assert kinds == set(KINDS)
    vmp = profile.instruments["vmp3_1"]
    assert (vmp.driver, vmp.transport, vmp.options["channel"]) == ("biologic.vmp3", "sim://vmp3", 1)
    assert vmp.limits["current_A"] == [-0.4, 0.4]
    assert profile.instruments["ms"].safe_state == {"filament": "off"}
    assert profile.instruments["clock"].transport is None
    assert all(spec.driver in DRIVERS for spec in profile.instruments.values())


def test_base_profile_loads(tmp_path):
    profile = load_profile(write(tmp_path, BASE))
    assert profile.name == "test lab"
    assert list(profile.instruments) == ["clock", "pstat", "pump", "valve"]
    assert profile.instruments["pump"].source.endswith("instruments.pump")


@pytest.mark.parametrize("old, new, key, words", [
    ('driver = "newera.ne1000"', 'driver = "acme.pump9000"', "instruments.pump.driver", "unknown driver 'acme.pump9000'"),
    ('kind = "syringe_pump"', 'kind = "valve"', "instruments.pump.driver", "is a syringe_pump, not a valve"),
    ('kind = "syringe_pump"', 'kind = "blender"', "instruments.pump.kind", "unknown kind 'blender'"),
    ('transport = "sim://pump"', 'transport = "socket://10.0.0.5"', "instruments.pump.transport", "not a serial port"),
    ('transport = "sim://pump"', 'transport = "socket://10.0.0.5:70000"', "instruments.pump.transport", "not in 1-65535"),
    ('transport = "sim://pump"', 'transport = "COM0"', "instruments.pump.transport", "not a serial port"),
    ('transport = "sim://pump"', 'transport = 3', "instruments.pump.transport", "expected a string"),
    ('transport = "sim://vmp3"', 'transport = "/dev/ttyUSB0"', "instruments.pstat.transport", "not an address for biologic.vmp3"),
    ('transport = "sim://pump"\n', '', "instruments.pump.transport", "required"),
    ('syringe_diameter_mm = 4.78, ', '', "instruments.pump.options.syringe_diameter_mm", "required but missing"),
    ('channel = 1,', 'channel = "1",', "instruments.pstat.options.channel", "expected an integer, got string '1'"),
    ('channel = 1,', 'channel = 99,', "instruments.pstat.options.channel", "above the allowed maximum 16"),
    ('baudrate = 19200', 'baudrate = 12345', "instruments.pump.options.baudrate", "12345 is not one of"),
    ('address = 0,', 'adress = 0,', "instruments.pump.options.adress", "unknown option"),
    ('rate_uL_h = [1.0, 3000.0]', 'rate_uL_h = [3000.0, 1.0]', "instruments.pump.limits.rate_uL_h", "min 3000 must be below max 1"),
    ('rate_uL_h = [1.0, 3000.0]', 'rate_uL_h = [-5.0, 3000.0]', "instruments.pump.limits.rate_uL_h", "min -5 uL/h is beyond what the driver allows"),
    ('rate_uL_h = [1.0, 3000.0]', 'rate_uL_h = 3000.0', "instruments.pump.limits.rate_uL_h", "expected [min, max]"),
    ('voltage_V = [-5.0, 5.0]', 'voltage_V = [-5.0, 15.0]', "instruments.pstat.limits.voltage_V", "max 15 V is beyond what the driver allows (-10 to 10 V)"),
    ('voltage_V = [-5.0, 5.0]', 'voltage_mV = [-5.0, 5.0]', "instruments.pstat.limits.voltage_mV", "unknown limit"),
    ('safe_state = { running = false }', 'safe_state = { running = "no" }', "instruments.pump.safe_state.running", "expected true/false"),
    ('position = "sealed"', 'position = "open"', "instruments.valve.safe_state.position", "'open' is not a position of the valve"),
    ('[instruments.valve]\nkind = "valve"\n', '[instruments.valve]\n', "instruments.valve.kind", "required but missing"),
    ('name = "test lab"', 'title = "test lab"', "lab.title", "unknown key"),
    ('seed = 1', 'seed = 1.5', "sim.seed", "expected an integer"),
    ('[sim]\nseed = 1\n', '', "instruments.pstat.transport", "needs a [sim] table"),
    ('[instruments.pump]', '[instruments.2pump]', "instruments.2pump", "must be identifiers"),
])
def test_each_mistake_is_one_line_naming_key_and_reason(tmp_path, old, new, key, words):
    assert old in BASE
    err = error_for(tmp_path, BASE.replace(old, new, 1))
    assert err.key == key
    assert f": {key}: " in str(err)
    assert words in str(err)


def test_a_channel_used_twice_is_refused(tmp_path):
    text = BASE + '\n[instruments.pstat2]\nkind = "potentiostat"\ndriver = "biologic.vmp3"\n' \
                  'transport = "sim://vmp3"\noptions = { channel = 1 }\n'
    err = error_for(tmp_path, text)
    assert err.key == "instruments.pstat2.options.channel"
    assert "already 'pstat'" in str(err)


def test_toml_syntax_error_gives_file_and_line(tmp_path):
    text = BASE.replace('driver = "lab.clock"', 'driver = lab.clock')
    path = write(tmp_path, text)
    line = text.splitlines().index('driver = lab.clock') + 1
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{path}:{line}: TOML syntax")
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ProfileError, match="no such file"):
        load_profile(tmp_path / "nope.toml")


@pytest.mark.parametrize("transport", [
    "socket://localhost:4001", "rfc2217://192.168.1.20:2217", "/dev/ttyUSB0", "COM3", "ASRL3::INSTR",
    "TCPIP0::10.0.0.2::4001::SOCKET", "TCPIP0::lab-pump.local::INSTR", "loop://",
])
def test_real_serial_transports_are_accepted(tmp_path, transport):
    text = BASE.replace('transport = "sim://pump"', f'transport = "{transport}"')
    assert load_profile(write(tmp_path, text)).instruments["pump"].transport == transport


@pytest.mark.parametrize("driver, transport", [
    ("biologic.vmp3", "USB0"), ("biologic.vmp3", "192.168.0.5"), ("gamry.ref600", "REF600-12345"),
])
def test_sdk_transports_are_accepted(tmp_path, driver, transport):
    text = BASE.replace('driver = "biologic.vmp3"\ntransport = "sim://vmp3"',
                        f'driver = "{driver}"\ntransport = "{transport}"')
    if driver == "gamry.ref600":  # one channel: no channel option
        text = text.replace("channel = 1, ", "")
    assert load_profile(write(tmp_path, text)).instruments["pstat"].transport == transport


def test_gamry_section_is_not_a_biologic_address(tmp_path):
    text = BASE.replace('transport = "sim://vmp3"', 'transport = "REF600-12345"')
    assert "not an address for biologic.vmp3" in str(error_for(tmp_path, text))


def test_a_profile_saved_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'[lab]\nname = "notepad"\n[instruments]\n')
    assert load_profile(path).name == "notepad"


def test_a_backslash_path_in_double_quotes_gets_a_hint(tmp_path):
    path = tmp_path / "win.toml"
    path.write_text('[lab]\nname = "x"\ndata_dir = "C:\\Users\\lab\\data"\n')
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message and f"{path}:3" in message
    assert "single quotes" in message and "forward slashes" in message


def test_a_relative_data_dir_is_relative_to_the_profile_not_the_working_folder(tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    folder.mkdir()
    path = folder / "lab.toml"
    path.write_text('[lab]\nname = "x"\ndata_dir = "data/$LAB_SUFFIX"\n[instruments]\n')
    monkeypatch.setenv("LAB_SUFFIX", "runs-2024")
    monkeypatch.chdir(tmp_path)
    assert Path(load_profile(path).lab["data_dir"]) == folder / "data" / "runs-2024"
    path.write_text('[lab]\nname = "x"\ndata_dir = "~/labdata"\n[instruments]\n')
    assert Path(load_profile(path).lab["data_dir"]) == Path("~/labdata").expanduser()
