"""Named trace sets: contents and order, resolving to paths, missing files, look-up."""

from __future__ import annotations

import pytest

from models.errors import InputError
from sim.scenario import REPO_ROOT
from sim.traces import sets
from sim.traces.sets import SETS, entries, find, main, missing, resolve

SYNTHETIC = ["traces/lte.csv", "traces/5g.csv", "traces/3g.csv", "traces/broadband.csv"]


def test_sets_compose_in_order():
    assert list(SETS) == ["synthetic", "mahimahi-up", "nyu-mets", "real-uplink", "uplink"]
    assert SETS["real-uplink"] == SETS["mahimahi-up"] + SETS["nyu-mets"]
    assert SETS["uplink"] == SETS["synthetic"] + SETS["real-uplink"]
    assert [e.path() for e in SETS["synthetic"]] == SYNTHETIC
    # the order the experiments always listed them in (tables keep it)
    assert [e.name for e in SETS["mahimahi-up"]] == [
        "ATT-LTE-driving.up", "ATT-LTE-driving-2016.up", "TMobile-LTE-short.up",
        "TMobile-UMTS-driving.up", "Verizon-EVDO-driving.up"]
    assert [e.label for e in SETS["nyu-mets"]][::3] == [
        "nyu-mets 7Train1", "nyu-mets QTrain", "nyu-mets bus62_2"]
    assert len({e.rel for e in SETS["uplink"]}) == 16
    assert all(e.name.endswith(".up") for e in SETS["mahimahi-up"])


def test_synthetic_resolves_to_shipped_files():
    assert resolve("synthetic") == SYNTHETIC
    assert resolve("synthetic", missing="error") == SYNTHETIC
    assert all((REPO_ROOT / p).is_file() for p in SYNTHETIC)
    assert missing("synthetic") == []


def test_unknown_set_lists_known():
    with pytest.raises(InputError, match="unknown trace set 'nope'; known: mahimahi-up"):
        resolve("nope")
    with pytest.raises(InputError):
        entries("nope")
    with pytest.raises(ValueError):
        resolve("synthetic", missing="maybe")


def test_missing_real_traces_are_skipped_or_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(sets, "SHARED_TRACES", tmp_path / "absent")
    assert resolve("uplink") == SYNTHETIC  # skipped, order kept
    assert resolve("real-uplink") == []
    assert [e.name for e in missing("uplink")] == [e.name for e in SETS["real-uplink"]]
    with pytest.raises(InputError, match=r"'nyu-mets': 7 of 7 files missing: .*7Train1\.csv"):
        resolve("nyu-mets", missing="error")


def test_other_shared_folder(tmp_path):
    (tmp_path / "mahimahi").mkdir()
    (tmp_path / "mahimahi" / "TMobile-LTE-short.up").write_text("0\n1\n")
    got = resolve("mahimahi-up", shared_traces=tmp_path)
    assert got == [f"{tmp_path}/mahimahi/TMobile-LTE-short.up"]
    assert len(missing("mahimahi-up", shared_traces=tmp_path)) == 4
    assert find(got[0], shared_traces=tmp_path).label == "mahimahi TMobile-LTE-short.up"


def test_find_any_spelling():
    e = find("traces/3g.csv")
    assert e is not None and e.label == "3g (synthetic)"
    assert find(REPO_ROOT / "traces" / "3g.csv") == e
    assert find(str(REPO_ROOT / "traces" / ".." / "traces" / "3g.csv")) == e
    assert find("traces/params.json") is None
    m = find(f"{REPO_ROOT.parent}/shared/traces/mahimahi/ATT-LTE-driving.up")
    assert m is not None and m.label == "mahimahi ATT-LTE-driving.up"
    assert m.path() == "../shared/traces/mahimahi/ATT-LTE-driving.up"
    assert m.path(REPO_ROOT.parent / "shared" / "traces") == m.path()  # default, spelled out


def test_real_sets_resolve_relative_to_repo(shared_traces):
    paths = resolve("real-uplink")
    assert paths and all(p.startswith("../shared/traces/") for p in paths)
    assert all((REPO_ROOT / p).is_file() for p in paths)
    assert [find(p) for p in paths] == [e for e in SETS["real-uplink"] if e.exists()]


def test_cli_lists_sets(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(sets, "SHARED_TRACES", tmp_path / "absent")
    assert main(["synthetic"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("synthetic: 4 of 4 traces present")
    assert main(["nyu-mets"]) == 0
    out = capsys.readouterr().out
    assert "0 of 7 traces present" in out and out.count("(missing)") == 7
