"""Every swarmlab error lives in swarmlab/errors.py, under SwarmlabError, named ...Error."""
from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil

import swarmlab
from swarmlab import errors

# Not errors: signals that must unwind past `except Exception` (and so past SwarmlabError).
NOT_ERRORS = {"swarmlab.cli.Terminated"}


@functools.cache  # importing every module (matplotlib, nbconvert) takes seconds
def exception_classes() -> dict[str, type]:
    """Every exception class defined in a module of the swarmlab package, by its full name."""
    found = {}
    for info in pkgutil.walk_packages(swarmlab.__path__, "swarmlab."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_the_walk_finds_the_package_s_exceptions():
    found = exception_classes()
    assert "swarmlab.errors.SwarmlabError" in found and "swarmlab.cli.Terminated" in found


def test_every_exception_class_is_a_swarmlab_error_in_errors_py():
    found = exception_classes()
    outside = sorted(name for name in found if not name.startswith("swarmlab.errors."))
    assert outside == sorted(NOT_ERRORS), "define error classes in swarmlab/errors.py"
    for name, cls in found.items():
        if name not in NOT_ERRORS:
            assert issubclass(cls, errors.SwarmlabError) and cls.__name__.endswith("Error"), name


def test_errors_that_replaced_builtin_ones_are_still_those():
    assert issubclass(errors.UsageError, ValueError)
    assert issubclass(errors.NoFreeSubnetError, ValueError)  # the doctor's rules catch ValueError
    assert issubclass(errors.ClaimError, AssertionError)
