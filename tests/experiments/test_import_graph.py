"""Layering: ``models <- policies <- sim <- experiments``, no module cycle at any level."""

from __future__ import annotations

from experiments.import_graph import Edge, all_edges, main, report


def test_no_upward_import_and_no_cycle_anywhere():
    r = report(all_edges())
    assert r["upward"] == []
    assert r["cycles"] == []
    assert "policies -> sim" not in r["package_edges"]
    assert "models -> policies" not in r["package_edges"]


def test_the_checker_sees_upward_imports_and_cycles_inside_functions():
    edges = [Edge("models.a", "sim.b", 3, nested=True), Edge("sim.b", "models.a", 1, False),
             Edge("sim.c", "sim.d", 1, False), Edge("sim.d", "sim.c", 9, nested=True)]
    r = report(edges)
    assert r["upward"] == ["models.a:3 -> sim.b"]
    assert r["cycles"] == [["models.a", "sim.b"], ["sim.c", "sim.d"]]
    assert r["nested"] == ["models.a:3 -> sim.b", "sim.d:9 -> sim.c"]


def test_command_exit_code(capsys):
    assert main(["--json"]) in (0, 1)
    assert '"package_edges"' in capsys.readouterr().out
