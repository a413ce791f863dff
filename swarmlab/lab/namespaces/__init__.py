"""The namespaces driver (root on Linux): each node a set of namespaces on this machine running its own dockerd.

driver.py   NamespaceDriver: up, teardown, leftovers, the way in over SSH
node.py     NamespaceNode: the namespaces, entered through nsenter; its dockerd
network.py  a network namespace per node, and a switch between them
netsock.py  sockets made in the switch namespace, for SSH clients here (root)
hostlink.py a cable from this machine into the switch (only when asked)
sshd.py     sshd in every node
cgroup.py   one cgroup holds every process of the lab
procscan.py what left the cgroup, found by the nodes' namespaces and mounts
host.py     commands run on this machine
"""
