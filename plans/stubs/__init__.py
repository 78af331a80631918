"""Plan building blocks that do not open a run, so they compose into any run."""
