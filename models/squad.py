"""SQuAD v1.1 data and the official answer metrics (token F1 and exact match)."""

from __future__ import annotations

import collections
import hashlib
import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

from models.errors import InputError


@dataclass(frozen=True)
class Question:
    id: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]


def load_squad(path: str | Path) -> list[Question]:
    """Questions of a SQuAD v1.1 JSON file, in file order."""
    p = Path(path)
    if not p.exists():
        raise InputError("SQuAD file not found", str(p))
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err.msg}", str(p), err.lineno) from None
    out = []
    for article in data.get("data", []):
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                out.append(Question(qa["id"], para["context"], qa["question"],
                                    tuple(a["text"] for a in qa["answers"]),
                                    tuple(a["answer_start"] for a in qa["answers"])))
    if not out:
        raise InputError("no questions in file", str(p))
    return out


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(prediction: str, truth: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(pred) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def best_f1_em(prediction: str, answers: tuple[str, ...]) -> tuple[float, float]:
    """Max over the gold answers, as the official evaluation does."""
    return (max(f1_score(prediction, a) for a in answers),
            max(exact_match(prediction, a) for a in answers))
