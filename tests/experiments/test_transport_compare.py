"""experiments.transport_compare: both transports on the same requests, paired."""

from __future__ import annotations

import json

from experiments.transport_compare import main


def test_tcp_is_paired_with_fluid_and_never_faster(capsys, tmp_path):
    code = main(["--policy", "int8,scout", "--requests", "30", "--json",
                 "--out", str(tmp_path)])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and [r["policy"] for r in rows] == ["int8", "scout"]
    for r in rows:
        assert r["n"] == 30 and r["hit_rate_diff"] <= 0 and r["median_added_s"] >= 0
        assert 0 <= r["hit_p_holm"] <= 1
    # a new connection costs at least its handshake round trip (50 ms) on Scout's 750 B
    assert rows[1]["median_added_s"] >= 0.05
    assert {p.name for p in tmp_path.iterdir()} == {
        "transport.csv", "summary_fluid.csv", "summary_tcp.csv"}


def test_a_bad_flag_is_one_line(capsys):
    assert main(["--tcp-connection", "sometimes"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
