"""Fit the shipped synthetic trace kinds to the real traces and regenerate ``traces/*.csv``.

Run from the repo root (needs ``../shared/traces``)::

    python traces/build_kinds.py            # refit, write traces/params.json and the CSVs
    python traces/build_kinds.py --check    # only verify the sources' sha256 and the fit

For each kind: read its source files (paths relative to ``../shared/traces``) with
:func:`sim.traces.read_trace`, apply the kind's documented cleaning and scale, resample to
1-s means, fit :mod:`sim.traces.synthetic` (pooled moment matching), and write
``traces/<kind>.csv`` (600 s of 1-s samples) with the most representative seed: of seeds
0..999, the one whose realisation is closest to the pooled targets, measured as the largest
deviation in units of the README tolerances (mean +-10 %, CV +-0.1, lag-1 +-0.05, outage
fraction +-0.01 absolute). The parameters,
targets, the exact source list with sha256 and the seed go to ``traces/params.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.cli import command, make_parser, run_main  # noqa: E402
from models.errors import InputError  # noqa: E402
from sim.traces.stats import pooled_1s_stats, resample_1s  # noqa: E402
from sim.traces.synthetic import (  # noqa: E402
    file_sha256,
    fit_report,
    generate,
    kind_source_series,
    write_csv,
)

SHARED = REPO.parent / "shared" / "traces"
OUT = REPO / "traces"
DURATION_S = 600
SEEDS = range(1000)
TOL = {"mean_rel": 0.10, "cv_abs": 0.10, "lag1_abs": 0.05, "outage_abs": 0.01}

# Ookla Speedtest Intelligence, global 5G medians for Q3 2020 (the first quarter Ookla
# reported after the UCC sessions of Dec 2019 - Feb 2020): download 206.22 Mbit/s, upload
# 29.52 Mbit/s ("Growing and Slowing: The State of 5G Worldwide in 2021", Ookla, 2021-12-20,
# which restates the Q3 2020 figures next to Q3 2021's 166.13 / 21.08).
OOKLA_5G_UL_DL = 29.52 / 206.22

MAHIMAHI = "mahimahi"
NYU = [f"nyu-mets-lte/{n}.csv" for n in
       ("7Train1", "7Train2", "Long_Island_Rail_Road", "QTrain", "bus57", "bus62", "bus62_2")]
UCC_5G = [  # every UCC bulk-download session that used 5G (B_2019.12.16_11.49.59 never did)
    "5g-ucc-raca/Download/Driving/B_2019.12.16_14.23.32.csv",
    "5g-ucc-raca/Download/Driving/B_2019.12.17_07.32.39.csv",
    "5g-ucc-raca/Download/Driving/B_2020.01.16_12.10.03.csv",
    "5g-ucc-raca/Download/Driving/B_2020.02.13_13.03.24.csv",
    "5g-ucc-raca/Download/Driving/B_2020.02.27_17.30.15.csv",
    "5g-ucc-raca/Download/Static/B_2020.01.16_10.43.34.csv",
    "5g-ucc-raca/Download/Static/B_2020.02.13_13.57.29.csv",
    "5g-ucc-raca/Download/Static/B_2020.02.14_13.21.26.csv",
]
FCC = [f"fcc-broadband/trace_{n}.log" for n in (
    "799448_http---www.facebook_part7", "849842_http---www.facebook_part7",
    "901648_http---www.amazon_part7", "925806_http---www.amazon_part8",
    "939562_http---www.google_part6", "939562_http---www.google_part9",
    "939592_http---www.facebook_part7")]

KINDS: dict[str, dict] = {
    "lte": {
        "file": "lte.csv",
        "description": "LTE uplink while moving: US carriers driving (mahimahi, 2012-2016) and "
                       "NYC subway / bus / commuter rail (NYU-METS, 2018).",
        "direction": "uplink (measured)",
        "direction_note": "mahimahi .up files are the uplink. NYU-METS: an LTE phone connects "
                          "to a lab server and iPerf throughput is logged on the server, which "
                          "in iPerf's default mode (client sends) is the receiving end, so "
                          "phone -> server = uplink; the dataset README does not name the "
                          "direction explicitly.",
        "scale": 1.0,
        "scale_note": None,
        "sources": [{"path": f"{MAHIMAHI}/{n}", "format": "mahimahi"} for n in
                    ("ATT-LTE-driving.up", "ATT-LTE-driving-2016.up", "TMobile-LTE-short.up")]
        + [{"path": p, "format": "nyumets"} for p in NYU],
    },
    "3g": {
        "file": "3g.csv",
        "description": "3G uplink while driving: T-Mobile UMTS and Verizon EV-DO (mahimahi, "
                       "2012).",
        "direction": "uplink (measured)",
        "direction_note": "mahimahi .up files. Norway HSDPA (hsdpa-norway-3g/) is downlink "
                          "(HSDPA is the downlink channel; video-download traces) and is not "
                          "used.",
        "scale": 1.0,
        "scale_note": None,
        "sources": [{"path": f"{MAHIMAHI}/{n}", "format": "mahimahi"} for n in
                    ("TMobile-UMTS-driving.up", "Verizon-EVDO-driving.up")],
    },
    "5g": {
        "file": "5g.csv",
        "description": "5G NSA (mid-band, Ireland, 2019-2020) driving and static, downlink "
                       "throughput scaled to an uplink by Ookla's global 5G median "
                       "upload/download ratio.",
        "direction": "downlink x 0.1431 (no usable 5G uplink trace)",
        "direction_note": "UCC UL_bitrate during these download sessions is the TCP ACK stream "
                          "of the download (0.05-0.17 Mbit/s, 0.1-2 % of DL and correlated "
                          "with it), not uplink capacity; 5Gophers is downlink only. So the "
                          "DL_bitrate series is scaled by 29.52/206.22 = 0.1431 (Ookla "
                          "Speedtest global 5G medians, Q3 2020). This assumes the uplink "
                          "tracks the downlink proportionally second by second.",
        "scale": OOKLA_5G_UL_DL,
        "scale_note": "Ookla, 'Growing and Slowing: The State of 5G Worldwide in 2021' "
                      "(2021-12-20): global median 5G download 206.22 Mbit/s and upload "
                      "29.52 Mbit/s in Q3 2020.",
        "cleaning_note": "Rows that share a wall-clock second with another row and carry "
                         "< 0.1 Mbit/s DL are cut out (G-NetTrack writes the restart between "
                         "two downloads of the download loop as such a pair at ~0 kbit/s; an "
                         "application pause, not a radio outage).",
        "sources": [{"path": p, "format": "gnettrack", "direction": "down",
                     "drop_shared_second_below_mbps": 0.1} for p in UCC_5G],
    },
    "broadband": {
        "file": "broadband.csv",
        "description": "US fixed broadband (FCC Measuring Broadband America 2016, web-browsing "
                       "throughput as selected by Pensieve: 0.2-6 Mbit/s means), unscaled.",
        "direction": "downlink, used unscaled as the uplink",
        "direction_note": "The FCC traces are downlink throughput of web-page fetches, which "
                          "is limited by the page load rather than by the line (Pensieve kept "
                          "traces with means of 0.2-6 Mbit/s, far below the lines' rates), so "
                          "a line's upload/download ratio does not transfer to them; they are "
                          "used as a low-rate fixed-line profile at face value. Use "
                          "--bandwidth-scale for other levels.",
        "scale": 1.0,
        "scale_note": None,
        "sources": [{"path": p, "format": "cooked"} for p in FCC],
    },
}


def distance(stats: dict, target: dict) -> float:
    """Largest deviation of 1-s statistics from the target, in units of :data:`TOL`
    (<= 1 means within every tolerance)."""
    return max(abs(stats["mean_mbps"] / target["mean_mbps"] - 1) / TOL["mean_rel"],
               abs(stats["cv"] - target["cv"]) / TOL["cv_abs"],
               abs(stats["lag1_autocorr"] - target["lag1_autocorr"]) / TOL["lag1_abs"],
               abs(stats["outage_fraction"] - target["outage_fraction"]) / TOL["outage_abs"])


def build(check: bool = False) -> int:
    if not SHARED.is_dir():
        raise InputError(f"{SHARED} not found")
    out = {
        "generated_by": "python traces/build_kinds.py",
        "model": "sim.traces.synthetic: 1-s samples; two-state (good / outage) Markov chain; "
                 "good state min(lognormal AR(1), max_mbps); fitted by pooled moment matching",
        "outage_threshold_mbps": 0.1,
        "shared_root": "../shared/traces",
        "shipped_duration_s": DURATION_S,
        "seed_rule": "of seeds 0..999, the one whose realisation has the smallest largest "
                     "deviation from the targets in units of the tolerances",
        "tolerances": TOL,
        "kinds": {},
    }
    for name, spec in KINDS.items():
        sources = []
        for src in spec["sources"]:
            entry = {"path": src["path"], "sha256": file_sha256(SHARED / src["path"])}
            entry.update({k: v for k, v in src.items() if k != "path"})
            sources.append(entry)
        kind = {k: v for k, v in spec.items() if k != "sources"}
        kind["sources"] = sources
        xs = kind_source_series(kind, SHARED)
        for entry, x in zip(sources, xs, strict=True):
            entry["seconds"] = int(len(x))
        rep = fit_report(xs)
        kind.update({"params": rep.params.to_dict(), "target": rep.target, "model": rep.model,
                     "raw": rep.raw, "exact": rep.exact, "notes": rep.notes})
        dist = [distance(pooled_1s_stats([resample_1s(generate(rep.params, DURATION_S, s))]),
                         rep.target) for s in SEEDS]
        seed = int(min(SEEDS, key=lambda s: dist[s]))
        if dist[seed] > 1:
            print(f"error: no seed in {SEEDS} gives a {name} trace within tolerance",
                  file=sys.stderr)
            return 1
        trace = generate(rep.params, DURATION_S, seed, name=name)
        kind["shipped"] = {"file": spec["file"], "seed": seed, "duration_s": DURATION_S,
                           "stats": pooled_1s_stats([resample_1s(trace)])}
        if not check:
            write_csv(trace, OUT / spec["file"])
        out["kinds"][name] = kind
        t, g = rep.target, kind["shipped"]["stats"]
        print(f"{name:<10} seed {seed:>3}  target mean {t['mean_mbps']:.3f} CV {t['cv']:.3f} "
              f"lag1 {t['lag1_autocorr']:.3f} out {t['outage_fraction']:.3f} | shipped "
              f"{g['mean_mbps']:.3f} {g['cv']:.3f} {g['lag1_autocorr']:.3f} "
              f"{g['outage_fraction']:.3f}  exact={rep.exact}")
    path = OUT / "params.json"
    text = json.dumps(out, indent=2, allow_nan=False) + "\n"
    if check:
        same = path.exists() and json.loads(path.read_text()) == json.loads(text)
        print("params.json is up to date" if same else "params.json differs from a refit")
        return 0 if same else 1
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"wrote {path} and {', '.join(k['file'] for k in KINDS.values())}")
    return 0


@command
def main(argv: list[str] | None = None) -> int:
    """Run the build; returns the exit code (0 ok, 1 no seed fits or --check differs, 2 bad
    input)."""
    p = make_parser(None, __doc__)  # prog: argparse's default, as before
    p.add_argument("--check", action="store_true", help="verify only; write nothing")
    args = p.parse_args(argv)
    return build(check=args.check)


if __name__ == "__main__":
    run_main(main)
