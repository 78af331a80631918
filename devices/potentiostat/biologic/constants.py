"""Every EClib constant labctl relies on, in one place: codes, technique ids, ECC files, row layouts.

Values follow the EC-Lab Development Package documentation for the VMP3 family. Where a value is less
certain (the CPLIMIT id) it is still only written here, so a correction touches one line.
"""

from __future__ import annotations

# -- devices and channel states ---------------------------------------------------------------------
DEVICE_CODES = {0: "VMP", 1: "VMP2", 2: "MPG", 3: "BISTAT", 4: "MCS_200", 5: "VMP3", 6: "VSP", 7: "HCP803",
                8: "EPP400", 9: "EPP4000", 10: "BISTAT2", 11: "FCT150S", 12: "VMP300", 13: "SP50",
                14: "SP150", 15: "FCT50S", 16: "SP300", 17: "CLB500", 18: "HCP1005", 19: "CLB2000",
                20: "VSP300", 21: "SP200", 22: "MPG2", 23: "SP100", 24: "MOSLED", 27: "SP240"}
VMP3 = 5
VMP3_FAMILY = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}   # devices that read "name.ecc" (others: "name4.ecc")
MAX_CHANNELS = 16
CHANNEL_STATES = {0: "stop", 1: "run", 2: "pause"}
CONNECT_TIMEOUT_S = 5
FIRMWARE_CODES = {0: "none", 1: "interpreter", 4: "unknown", 5: "kernel", 8: "invalid", 10: "ecal", 11: "ecal4"}
FIRMWARE_KERNEL = 5         # what the techniques run on; anything else means BL_LoadFirmware first

# -- ECC parameter types ----------------------------------------------------------------------------
PARAM_INT, PARAM_BOOL, PARAM_SINGLE = 0, 1, 2

# -- techniques -------------------------------------------------------------------------------------
TECHNIQUE_IDS = {"OCV": 100, "CA": 101, "CP": 102, "CV": 103, "PEIS": 104, "GEIS": 107, "CPLIMIT": 155,
                 "CALIMIT": 157}
TECHNIQUE_NAMES = {v: k for k, v in TECHNIQUE_IDS.items()}
ECC_FILES = {"OCV": "ocv", "CA": "ca", "CP": "cp", "CV": "cv", "PEIS": "peis", "GEIS": "geis",
             "CPLIMIT": "cplimit", "CALIMIT": "calimit"}

# Row layouts of BL_GetData on the VMP3 family, per technique and process index. "f" = a float word
# (BL_ConvertNumericIntoSingle), "u" = an integer word, "-" = ignored; t_hi/t_lo are the time counter.
ROW_LAYOUTS: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {
    ("OCV", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("Ece", "f")),
    ("CP", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("I", "f"), ("cycle", "u")),
    ("CA", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("I", "f"), ("cycle", "u")),
    ("CPLIMIT", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("I", "f"), ("cycle", "u")),
    ("CALIMIT", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("I", "f"), ("cycle", "u")),
    ("CV", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ec", "f"), ("I", "f"), ("Ewe", "f"), ("cycle", "u")),
    ("PEIS", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("I", "f")),
    ("GEIS", 0): (("t_hi", "u"), ("t_lo", "u"), ("Ewe", "f"), ("I", "f")),
}
_IMPEDANCE_ROW = (("freq", "f"), ("Ewe_mod", "f"), ("I_mod", "f"), ("phase", "f"), ("Ewe", "f"), ("I", "f"),
                  ("-", "-"), ("Ece_mod", "f"), ("Ice_mod", "f"), ("phase_ce", "f"), ("Ece", "f"), ("-", "-"),
                  ("-", "-"), ("t", "f"), ("I_range", "u"))
ROW_LAYOUTS[("PEIS", 1)] = _IMPEDANCE_ROW
ROW_LAYOUTS[("GEIS", 1)] = _IMPEDANCE_ROW
IMPEDANCE_PROCESS = 1   # process index of the impedance rows of PEIS/GEIS (0 carries the Ewe/I record)

# -- limits (CPLIMIT / CALIMIT Test{n}_Config) --------------------------------------------------------
TEST_ACTIVE = 1 << 0
TEST_AND = 1 << 1
TEST_GREATER = 1 << 2          # bits 2-4: comparison, 0 "<", 1 ">"
TEST_VARIABLE_SHIFT = 5        # bits 5+: variable
TEST_VARIABLES = {"Ewe": 0, "AUX1": 1, "AUX2": 2, "I": 3}
EXIT_NEXT_STEP, EXIT_NEXT_TECHNIQUE, EXIT_STOP = 0, 1, 2
MAX_TESTS = 3


def test_config(variable: str, op: str) -> int:
    """Test{n}_Config word for ``variable op value``: "Ewe <" is 1, "Ewe >" is 5, "I >" is 101."""
    cfg = TEST_ACTIVE | (TEST_VARIABLES[variable] << TEST_VARIABLE_SHIFT)
    return cfg | TEST_GREATER if op == ">" else cfg


# -- ranges and misc parameter values ---------------------------------------------------------------
# I_Range and E_Range values, under the EClib header's names. BOOSTER needs an external booster wired to
# the channel; AUTO lets the firmware range itself, which current-controlled techniques cannot do.
I_RANGE = {"I_RANGE_KEEP": -1, "I_RANGE_100pA": 0, "I_RANGE_1nA": 1, "I_RANGE_10nA": 2, "I_RANGE_100nA": 3,
           "I_RANGE_1uA": 4, "I_RANGE_10uA": 5, "I_RANGE_100uA": 6, "I_RANGE_1mA": 7, "I_RANGE_10mA": 8,
           "I_RANGE_100mA": 9, "I_RANGE_1A": 10, "I_RANGE_BOOSTER": 11, "I_RANGE_AUTO": 12}
E_RANGE = {"E_RANGE_2_5V": 0, "E_RANGE_5V": 1, "E_RANGE_10V": 2, "E_RANGE_AUTO": 3}
# Full scale (A) of each fixed current range, smallest first: a current-controlled technique takes the first
# that holds its largest current, since a range far above the signal measures it coarsely.
I_RANGE_FULL_SCALE_A = {I_RANGE["I_RANGE_100pA"]: 100e-12, I_RANGE["I_RANGE_1nA"]: 1e-9,
                        I_RANGE["I_RANGE_10nA"]: 10e-9, I_RANGE["I_RANGE_100nA"]: 100e-9,
                        I_RANGE["I_RANGE_1uA"]: 1e-6, I_RANGE["I_RANGE_10uA"]: 10e-6,
                        I_RANGE["I_RANGE_100uA"]: 100e-6, I_RANGE["I_RANGE_1mA"]: 1e-3,
                        I_RANGE["I_RANGE_10mA"]: 10e-3, I_RANGE["I_RANGE_100mA"]: 100e-3,
                        I_RANGE["I_RANGE_1A"]: 1.0}
I_RANGE_AUTO = I_RANGE["I_RANGE_AUTO"]
E_RANGE_10V = E_RANGE["E_RANGE_10V"]   # the VMP3 works in +-10 V; the profiles' voltage limits sit inside it
BANDWIDTH = 5
SWEEP_LOGARITHMIC = False   # PEIS/GEIS "sweep": True = linear, False = logarithmic
MAX_STEP_DURATION_S = 1.0e7  # a "no duration" step: ended only by its limits
CV_SCAN_NUMBER = 2
CV_BEGIN_MEASURING_I = 0.5
CV_END_MEASURING_I = 1.0
EIS_AVERAGE_N = 1
EIS_WAIT_FOR_STEADY = 0.1   # periods before each frequency

# -- error codes ------------------------------------------------------------------------------------
# code: (what the library means, what the user should do)
ERRORS: dict[int, tuple[str, str]] = {
    -1: ("no instrument connected", "connect first (is the instrument on and the address right?)"),
    -2: ("connection in progress", "wait for the running connection to finish"),
    -3: ("selected channel(s) unplugged", "check the channel number against the channels fitted in the "
                                            "instrument"),
    -4: ("invalid function parameters", "this is a labctl bug; report it with the technique parameters"),
    -5: ("selected file does not exist", "install the EC-Lab Development Package (ECC files next to EClib)"),
    -6: ("function failed", "retry; if it persists power-cycle the instrument"),
    -7: ("no channel selected", "give a channel"),
    -8: ("invalid parameters", "check the technique parameters"),
    -9: ("reserved for ECLab", "close EC-Lab: the channel is in use by EC-Lab"),
    -10: ("function not available in demo mode", "use a licensed connection"),
    -11: ("library not initialised", "reinstall the EC-Lab Development Package"),
    -12: ("too many data to transfer from the instrument", "poll faster"),
    -13: ("channel not plugged", "choose a channel fitted in the instrument"),
    -14: ("channel is already running", "stop the channel (or close EC-Lab) before starting a technique"),
    -15: ("channel could not be stopped", "power-cycle the channel"),
    -200: ("communication failed with the instrument", "check the network cable and the instrument"),
    -201: ("cannot establish connection with the instrument", "check the address and that no other program "
                                                                "holds the instrument"),
    -202: ("waiting for the instrument response", "retry"),
    -203: ("invalid IP address", "check the address in the lab profile"),
    -204: ("cannot allocate memory in the instrument", "restart the instrument"),
    -205: ("cannot load firmware into selected channel(s)", "reload the firmware (restart the instrument)"),
    -206: ("communication firmware not compatible with the library", "update the instrument firmware or the "
                                                                       "EC-Lab Development Package"),
    -207: ("maximum number of allowed connections reached", "close other programs connected to the "
                                                              "instrument"),
    -300: ("invalid file", "reinstall the EC-Lab Development Package"),
    -301: ("invalid file name", "reinstall the EC-Lab Development Package"),
    -302: ("file not found", "reinstall the EC-Lab Development Package"),
    -303: ("cannot load file", "reinstall the EC-Lab Development Package"),
    -304: ("cannot find firmware file", "reinstall the EC-Lab Development Package"),
    -305: ("cannot read firmware file", "reinstall the EC-Lab Development Package"),
    -306: ("cannot write firmware file", "check disk permissions"),
    -307: ("cannot initialise firmware", "reload the firmware"),
    -308: ("firmware not loaded", "load the firmware (labctl does so on connect; reconnect)"),
    -309: ("incompatible firmware", "the firmware does not match this library: reload the firmware that "
                                      "ships with the EC-Lab Development Package (close EC-Lab first)"),
    -400: ("ECC file not found", "reinstall the EC-Lab Development Package"),
    -401: ("the ECC file does not match the loaded firmware", "reload the firmware (close EC-Lab, which may "
                                                                "have loaded its own) and reconnect"),
    -402: ("ECC file corrupted", "reinstall the EC-Lab Development Package"),
    -403: ("cannot load ECC file", "reinstall the EC-Lab Development Package"),
    -404: ("data error in the ECC file", "reinstall the EC-Lab Development Package"),
    -405: ("instrument memory full", "stop the channel and read its data out, then restart"),
    -406: ("technique not compatible with the instrument", "use a technique the channel supports"),
    -407: ("channel too old for the technique", "update the channel board"),
}
