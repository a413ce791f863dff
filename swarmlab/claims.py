"""What a lesson says about its outputs, checked against those outputs when it runs.

A lesson's text tells the student what an output shows ("node2 does not list
uber-net"). Right after that output, the lesson states the same sentence as a
claim and the condition that makes it true:

    >>> lesson.expect("node2 does not list uber-net yet", not matrix.loc["uber-net", "node2"])
    ✓ node2 does not list uber-net yet

A claim that does not hold raises ClaimError, which fails the cell and so the
lesson run (`swarmlab lessons run`, the tests), in every backend: a live lab,
your own hosts, or a replayed recording. Text and output can then never drift
apart unnoticed, for instance after a recording is made again.

`Claims.summary()` closes the lesson with how many claims were checked; the
lesson runner reads that line back (CLAIMS_LINE).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ClaimError, UsageError
from .i18n import language, translate

CHECKED = "✓"
# The closing line, in each language the lessons speak (claims.po translates it): the runner reads it back.
CLAIMS_LINE = re.compile(r"^(?:claims checked: (\d+), all true|已核对 (\d+) 条陈述，全部属实)$", re.M)
SEEN_LIMIT = 600  # characters of the output quoted in an error


@dataclass(frozen=True)
class Claim:
    text: str
    seen: str = ""

    def __str__(self):
        return f"{CHECKED} {self.text}"


class Claims:
    """The claims one lesson made, in order; each checked as it is made."""

    def __init__(self, lesson_id: str = "", backend: str = "", lang: str | None = None):
        self.lesson_id = lesson_id
        self.backend = backend
        self.lang = lang or language()  # the lesson's sentences are said in it (the claims catalog)
        self.checked: list[Claim] = []

    def _say(self, sentence: str) -> str:
        """A sentence of the lesson's, in the lesson's language (English: as written)."""
        return translate(sentence, "claims", self.lang)

    def expect(self, claim: str, holds, seen=None) -> None:
        """Check that `holds` is true; `seen` is what the output showed, quoted when it is not.

        Prints the claim with a tick and returns nothing (a notebook cell shows the tick
        line only); the claims made are in `checked`.

        `holds` may be a callable (called with no argument), so a condition that
        raises (a missing row, a missing column) reports as this claim failing.
        """
        if not isinstance(claim, str) or not claim.strip():
            raise UsageError("a claim is the sentence the lesson says; give it as text")
        try:
            ok = holds() if callable(holds) else holds
        except (KeyError, IndexError, LookupError, ValueError, TypeError, AttributeError) as exc:
            ok, seen = False, f"{type(exc).__name__}: {exc}" if seen is None else seen
        if not isinstance(ok, bool) and hasattr(ok, "__bool__"):
            ok = bool(ok)  # numpy.bool_ and the like
        said = self._say(claim)
        if ok is not True:
            raise ClaimError(self._failure(said, seen))
        made = Claim(said, _short(seen))
        self.checked.append(made)
        print(made)

    def expect_output(self, result, claim: str, *, contains=(), lacks=()) -> None:
        """A claim about what one command printed (stdout and stderr together)."""
        contains = (contains,) if isinstance(contains, str) else tuple(contains)
        lacks = (lacks,) if isinstance(lacks, str) else tuple(lacks)
        text = result.stdout + result.stderr
        missing = [c for c in contains if c not in text]
        present = [l for l in lacks if l in text]
        why = [f"it lacks {m!r}" for m in missing] + [f"it shows {p!r}" for p in present]
        self.expect(claim, not why, seen=f"`{result.command}` on {result.node} printed:\n{text}"
                           + (f"\n({'; '.join(why)})" if why else ""))

    def expect_one_of(self, claim: str, value, allowed) -> None:
        """`value` is one of `allowed` (a set of the outcomes that really occur)."""
        allowed = tuple(allowed)
        self.expect(claim, value in allowed, seen=f"{value!r}, not one of {allowed!r}")

    def summary(self) -> str:
        return self._say(f"claims checked: {len(self.checked)}, all true")

    def _failure(self, claim: str, seen) -> str:
        where = f"lesson {self.lesson_id}" + (f" ({self.backend})" if self.backend else "")
        message = self._say(f"{where}: the text says {claim!r}, but the output does not show it")
        if seen is not None:
            message += self._say("; it shows: ") + _short(seen)
        return message + "\n  " + self._say("fix the lesson's text or find out why the output changed")


def _short(seen) -> str:
    text = seen if isinstance(seen, str) else repr(seen) if seen is not None else ""
    return text if len(text) <= SEEN_LIMIT else text[:SEEN_LIMIT] + " …"


def claims_checked(printed: str) -> int | None:
    """How many claims a finished lesson checked, read from what it printed (None: no summary)."""
    found = CLAIMS_LINE.findall(printed)
    return int(next(n for n in found[-1] if n)) if found else None
