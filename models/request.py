"""One request of a workload: the record every layer passes around.

It sits in ``models`` (the bottom of the import graph) so that policies can name it
without importing the simulator: ``models <- policies <- sim <- experiments``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Request:
    """One request. Times in seconds from the start of the run; sizes in tokens."""

    index: int
    arrival_s: float
    context_tokens: int
    question_tokens: int
    answer_tokens: int
    deadline_s: float  # budget from arrival to the first answer token at the user
