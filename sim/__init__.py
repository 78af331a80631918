"""The simulated lab: a physical world and instrument simulators behind the real wire protocols and SDKs."""
