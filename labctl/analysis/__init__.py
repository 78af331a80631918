"""Numbers out of stored runs: coulombic efficiency, gas amounts, the sodium inventory, DEMS CO2.

Everything here reads recorded data (tables from :mod:`labctl.storage`) and run metadata, never plan
internals, so a run analysed tomorrow in a fresh process gives the numbers it gave during the experiment.
"""
