"""The lab: a real multi-node Docker Swarm, its nodes made by a driver (namespaces or docker)."""
from .driver import DRIVERS, Driver, LabNode, default_driver, driver_class, get_driver
from .image import IMAGE
from .lab import Lab, leftovers, teardown
from .ownership import state_root

__all__ = ["Lab", "LabNode", "Driver", "IMAGE", "DRIVERS", "default_driver", "driver_class", "get_driver",
           "state_root", "teardown", "leftovers"]
