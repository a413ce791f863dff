"""The local lab: a real multi-node Docker Swarm on one Linux machine."""
from .image import IMAGE
from .lab import Lab, leftovers, teardown
from .node import LabNode

__all__ = ["Lab", "LabNode", "IMAGE", "teardown", "leftovers"]
