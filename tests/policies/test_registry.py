"""Policy specs: typed parameters (coercion, ranges, one-line errors) and the listing."""

from __future__ import annotations

import typing

import pytest

from models.errors import InputError
from models.operating import KV_PRECISIONS
from policies.adaptive import Adaptive
from policies.estimators import ESTIMATORS
from policies.kv import KVTransfer
from policies.mpc import MPC
from policies.registry import (
    POLICIES,
    _load_class,
    describe_policies,
    in_range,
    make_policies,
    make_policy,
    param_infos,
)
from policies.scout import Scout


def _state(policy) -> dict:
    return {k: v for k, v in vars(policy).items()}


@pytest.mark.parametrize(("spec", "direct"), [
    ("int8", lambda: KVTransfer(precision="int8")),
    ("int8:0.5", lambda: KVTransfer(precision="int8", retention=0.5)),
    ("bf16(retention=0.25)", lambda: KVTransfer(precision="bf16", retention=0.25)),
    ("scout:0.25", lambda: Scout(retention=0.25)),
    ("scout(retention=0.75)", lambda: Scout(retention=0.75)),
    ("adaptive(estimator=harmonic,safety=0.9)",
     lambda: Adaptive(estimator="harmonic", safety=0.9)),
    ("adaptive(window=3,prior_mbps=2,max_age_s=inf)",
     lambda: Adaptive(window=3, prior_mbps=2.0, max_age_s=float("inf"))),
    ("adaptive:0.5", lambda: Adaptive(retention=0.5)),
    ("mpc(horizon=5,estimator=min)", lambda: MPC(horizon=5, estimator="min")),
])
def test_a_spec_builds_the_same_object_as_the_constructor(spec, direct):
    label, policy = make_policy(spec)
    assert label == spec
    want = direct()
    assert type(policy) is type(want) and _state(policy) == _state(want)


def test_values_take_the_field_type():
    _, p = make_policy("mpc(window=3,safety=1,prior_mbps=2,horizon=0)")
    assert p.window == 3 and type(p.window) is int
    assert p.safety == 1.0 and type(p.safety) is float
    assert p.prior_mbps == 2.0 and type(p.prior_mbps) is float
    assert p.horizon == 0 and type(p.horizon) is int
    assert make_policy("scout(retention=none)")[1]._retention is None  # the scenario's


@pytest.mark.parametrize(("spec", "words"), [
    ("adaptive(colour=blue)", ["'adaptive(colour=blue)'", "no parameter 'colour'",
                               "known: estimator, window, safety"]),
    ("mpc(colour=blue)", ["no parameter 'colour'", "horizon"]),
    ("oracle(x=1)", ["oracle has no parameter 'x'", "known: none"]),
    ("oracle:0.5", ["oracle has no parameter 'retention'"]),
    ("cloud-text:0.5", ["cloud-text has no parameter 'retention'"]),
    ("adaptive(window=2.5)", ["window='2.5'", "expected an integer"]),
    ("adaptive(safety=high)", ["safety='high'", "expected a number"]),
    ("adaptive(estimator=mean)", ["estimator='mean'", "one of ewma, harmonic, min, robust"]),
    ("int8(precision=int3)", ["precision='int3'", "one of bf16, int8, int4, mixed"]),
    ("adaptive(safety=2)", ["safety=2.0", "outside (0, 1]"]),
    ("adaptive(safety=0)", ["safety=0.0", "outside (0, 1]"]),
    ("adaptive(safety=nan)", ["outside (0, 1]"]),
    ("adaptive(window=0)", ["window=0", "outside [1, inf)"]),
    ("mpc(horizon=-1)", ["horizon=-1", "outside [0, 1000]"]),
    ("scout(retention=0)", ["retention=0.0", "outside (0, 1]"]),
    ("scout:1.5", ["retention must be in (0, 1]"]),
    ("scout:half", ["expected NAME:RETENTION"]),
    ("adaptive(safety)", ["expected NAME(key=value,...)"]),
    ("nope(x=1)", ["unknown policy 'nope'"]),
])
def test_bad_parameters_are_one_line_errors(spec, words):
    with pytest.raises(InputError) as err:
        make_policy(spec)
    text = str(err.value)
    assert "\n" not in text
    for w in words:
        assert w in text


def test_declared_choices_match_the_implementations():
    hints = {i.name: i.type for i in param_infos(Adaptive)}
    assert set(typing.get_args(hints["estimator"])) == set(ESTIMATORS)
    hints = {i.name: i.type for i in param_infos(KVTransfer)}
    assert typing.get_args(hints["precision"]) == KV_PRECISIONS


def test_every_registered_policy_declares_documented_parameters():
    for name, (target, fixed) in POLICIES.items():
        cls = _load_class(target, name)
        infos = param_infos(cls)
        assert infos is not None, name
        for info in infos:
            assert info.help, (name, info.name)
            if info.range is not None:
                in_range(1.0, info.range)  # parses
        assert set(fixed) <= {i.name for i in infos}
        assert make_policy(name)[0] == name


def test_in_range():
    assert in_range(1.0, "(0, 1]") and not in_range(0.0, "(0, 1]")
    assert in_range(float("inf"), "[0, inf]") and not in_range(float("inf"), "[0, inf)")
    assert in_range(1, "[1, inf)") and not in_range(0, "[1, inf)")
    with pytest.raises(ValueError):
        in_range(1.0, "0..1")


def test_untyped_classes_keep_guessed_values(tmp_path, monkeypatch):
    plugin = tmp_path / "tiny.py"
    plugin.write_text(
        "from models.operating import OperatingPoint\n"
        "from policies.base import Policy\n\n"
        "class Tiny(Policy):\n"
        "    name = 'tiny'\n\n"
        "    def decide(self, request, view):\n"
        "        return OperatingPoint('cloud-text')\n")
    label, p = make_policy(f"{plugin}:Tiny")
    assert label == "tiny" and p.params == {}
    # a registered class without Params: values guessed as before (int, float, bool, str)
    monkeypatch.setitem(POLICIES, "spy", ("tests.spies:FutureSpy", {}))
    label, p = make_policy("spy(a=1,b=0.5,c=true,d=x)")
    assert label == "spy(a=1,b=0.5,c=true,d=x)"
    assert p.params == {"a": 1, "b": 0.5, "c": True, "d": "x"}
    assert "parameters not declared" in describe_policies()


def test_describe_lists_every_policy_and_parameter():
    text = describe_policies()
    for name in POLICIES:
        assert f"\n{name}  (" in "\n" + text
    for words in ("estimator", "ewma|harmonic|min|robust", "safety", "(0, 1]", "horizon",
                  "[0, inf)", "bf16|int8|int4|mixed", "no parameters"):
        assert words in text
    # the registry's fixed parameters show as the defaults
    int4 = text.split("\nint4  (")[1].split("\n\n")[0]
    assert "precision  bf16|int8|int4|mixed  int4" in int4


def test_labels_of_a_run_differ(tmp_path):
    """Each label is one row of results: a duplicate would pool two policies' requests."""
    plugin = tmp_path / "clash.py"
    plugin.write_text(
        "from models.operating import OperatingPoint\n"
        "from policies.base import Policy\n\n"
        "class Clash(Policy):\n"
        "    name = 'int8'\n\n"
        "    def decide(self, request, view):\n"
        "        return OperatingPoint('cloud-text')\n")
    assert [label for label, _ in make_policies(["int8", "scout:0.25"])] == ["int8",
                                                                               "scout:0.25"]
    with pytest.raises(InputError, match="'int8' is listed twice"):
        make_policies(["int8", "scout", " int8"])
    with pytest.raises(InputError, match="both labelled 'int8'"):
        make_policies(["int8", f"{plugin}:Clash"])
