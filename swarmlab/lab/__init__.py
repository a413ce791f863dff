"""The lab: a real multi-node Docker Swarm, its nodes made by a driver (see driver.py and DRIVERS)."""
from .docker.debian import RELEASES as DEBIAN_RELEASES
from .docker.debian import node_rootfs
from .docker.nodeimage import SOURCES as NODE_IMAGE_SOURCES
from .docker.nodeimage import build_node_image
from .driver import DRIVERS, Driver, LabNode, default_driver, driver_class, get_driver
from .image import IMAGE
from .lab import Lab, lab_of_inventory, leftovers, teardown
from .ownership import state_root
from .sshd import ssh_hint

__all__ = ["Lab", "LabNode", "Driver", "IMAGE", "DRIVERS", "default_driver", "driver_class", "get_driver",
           "lab_of_inventory", "state_root", "teardown", "leftovers", "ssh_hint", "build_node_image", "NODE_IMAGE_SOURCES",
           "DEBIAN_RELEASES", "node_rootfs"]
