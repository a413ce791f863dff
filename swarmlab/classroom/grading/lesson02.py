"""Lesson 2's grading: uber-net's subnet and VXLAN id, as node1's Docker reports them."""
from . import Answer, Test

INSPECT = ("docker network inspect uber-net --format '{{json .IPAM.Config}} "
           "{{index .Options \\\"com.docker.network.driver.overlay.vxlanid_list\\\"}}'")
ANSWERS = [Answer("uber_net_config", cell="54ac43c6")]
TESTS = [Test("uber_net_config_test", 1, cell="efba4f83",
              visible='assert config.node == node1.name and "uber-net" in config.command, "inspect uber-net on node1"',
              hidden=f'''
from swarmlab.classroom.grading.checks import look
assert config.stdout.split() == look(node1, "{INSPECT}").stdout.split(), "not what node1's Docker says of uber-net"''')]
