"""The lab: a real multi-node Docker Swarm, its nodes made by a driver (namespaces or docker)."""
from .image import IMAGE
from .lab import DRIVERS, Lab, leftovers, teardown
from .node import LabNode

__all__ = ["Lab", "LabNode", "IMAGE", "DRIVERS", "teardown", "leftovers"]
