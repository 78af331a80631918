"""Packages are listed here because devices/, plans/ and sim/ install under the ``labctl`` namespace."""

from setuptools import find_packages, setup

ROOTS = {"labctl": "labctl", "labctl.devices": "devices", "labctl.plans": "plans", "labctl.sim": "sim"}

packages = []
for name, folder in ROOTS.items():
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(folder) if f"{name}.{sub}" not in ROOTS]

setup(packages=packages)
