"""Which answer a manual `docker container start` gave, on the texts Docker 20.10 printed in the lab."""
from __future__ import annotations

from swarmlab import story
from swarmlab.result import Result

CONTAINER = "6abb06d250d017ff25edb4ba640fe2d0bc599255dacb7f92bb1f272079986d5e"
# Printed by node2 in the lab (lesson 4's recording and benchmarks/start_answer.py).
POOL = ("Error response from daemon: error creating external connectivity network: could not find an available, "
        "non-overlapping IPv4 address pool among the defaults to assign to the network\n"
        f"Error: failed to start containers: {CONTAINER}\n")
NOT_FOUND = f"Error response from daemon: network nacmwnhcj5a4g3tp18o1g5zuo not found\nError: failed to start containers: {CONTAINER}\n"


def start(stderr: str, code: int = 1, stdout: str = "") -> Result:
    return Result("node2", f"docker container start {CONTAINER}", stdout, stderr, code)


def test_the_address_pool_answer():
    assert story.start_answer(start(POOL)) == story.ADDRESS_POOL


def test_the_articles_answer_network_not_found():
    assert story.start_answer(start(NOT_FOUND)) == story.NETWORK_NOT_FOUND


def test_any_other_answer_is_its_first_line_so_a_lesson_check_rejects_it():
    gone = f"Error response from daemon: No such container: {CONTAINER}\nError: failed to start containers: {CONTAINER}\n"
    assert story.start_answer(start(gone)) == f"Error response from daemon: No such container: {CONTAINER}"
    assert story.start_answer(start("", 0, CONTAINER + "\n")) == "started"


def test_a_container_merely_named_like_a_network_is_not_taken_for_the_answer():
    assert story.start_answer(start("Error response from daemon: container network-x not found, sorry\n")) \
        not in story.START_ANSWERS
