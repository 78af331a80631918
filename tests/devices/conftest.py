"""Device tests: the fake drivers of ``fakes.py`` (importable from every folder below) stand in for the
instruments where a test needs no physics."""
