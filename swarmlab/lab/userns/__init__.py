"""The userns driver: a lab inside the user's own user namespaces, for a user with no root and
no Docker group.

holder.py  the process that holds the lab's user, network (the switch), mount and PID namespaces
node.py    a node: its own network, mount and UTS namespaces in the holder's, its own dockerd
driver.py  up, teardown, leftovers
"""
