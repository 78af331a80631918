"""Mass spectrometry: the SRS RGA driver, the instrument-neutral gas-analyser interface and its ophyd device."""
