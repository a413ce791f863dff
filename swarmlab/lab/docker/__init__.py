"""The docker driver: each node a container running its own dockerd, on a Docker engine.

driver.py    DockerDriver: up, teardown, leftovers, the way in over SSH
node.py      ContainerNode: commands and the node's Docker API through the engine's exec API
engine.py    where the engine is, a client, and what it grants a node container
nodeimage.py the image a node runs, built on the engine
sshd.py      sshd in every node container

Importing this package loads nothing of docker-py; driver.py and engine.py do.
"""
