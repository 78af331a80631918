"""The founding paper's numbers that the report puts beside labctl's (Energy Environ. Sci., Na-anode SEI study).

Sources: first- and tenth-cycle CE (Fig. 1a,b and text), Na lost to SEI and dead Na after one cycle (Fig. 1d
and text), carbonate/ether interfacial resistance ratio (Fig. 1c, "roughly seven times"), DEMS (Fig. 5).
"""

ELECTROLYTES = {
    "ecdmc": "1 M NaPF6 EC:DMC",
    "ecdmc_vc": "1 M NaPF6 EC:DMC + 10% VC",
    "ecdmc_fec": "1 M NaPF6 EC:DMC + 10% FEC",
    "dme": "1 M NaPF6 DME",
}

CE_FIRST = {"ecdmc": 24.0, "ecdmc_vc": 70.0, "ecdmc_fec": 74.0, "dme": 94.0}
CE_TENTH = {"ecdmc": 22.0, "ecdmc_vc": 73.0, "ecdmc_fec": 75.0, "dme": 99.8}
SEI_FIRST = {"ecdmc": 34.0, "ecdmc_vc": 21.0, "ecdmc_fec": 19.0, "dme": 3.0}
DEAD_FIRST = {k: 100.0 - CE_FIRST[k] - SEI_FIRST[k] for k in CE_FIRST}  # DME: 3 % as stated
EIS_RATIO_CARBONATE_TO_ETHER = 7.0

#: tolerances of the simulated lab's calibration (percentage points)
TOLERANCE_PP = 2.0
