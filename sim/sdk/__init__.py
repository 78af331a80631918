"""Fakes of vendor SDKs (BioLogic EClib, Gamry GamryCOM) acting on the simulated world."""
