"""The benchmark harness end to end, as CI runs it: `tools/bench/bench --quick S1` starts the
origins and measures every proxy and the floor relay. Under ctest it measures the test build's
edged (EDGED_BIN, `--edged`) instead of building Release again: that build cost CI about 80 s of
its 20 minutes, and the figures are not what this checks. Asserts that it ran and produced
figures, never how fast anything was (speed is for the benchmark, not for tests)."""

import json
import os
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROWS = ("edged", "nginx", "haproxy", "floor (blind relay)")


def test_quick_s1_measures_every_proxy(tmp_path):
    edged = ["--edged", os.environ["EDGED_BIN"]] if os.environ.get("EDGED_BIN") else []
    out = subprocess.run(["/usr/bin/python3", str(ROOT / "tools" / "bench" / "bench"), "--quick", "S1",
                          "--out", str(tmp_path), *edged],
                         capture_output=True, text=True, timeout=840)
    assert out.returncode == 0, out.stdout + out.stderr[-4000:]
    table = out.stdout
    assert "**S1**" in table, table
    for label in ROWS:
        m = re.search(r"^\| " + re.escape(label) + r" \| ([\d,.]+)[ |]", table, re.M)
        assert m, f"no figures for {label}:\n{table}"
        assert float(m.group(1).replace(",", "")) > 0
    # The same figures were saved, with no run failing and no error or non-2xx response.
    results = json.loads(next(tmp_path.glob("results-*.json")).read_text())
    s1 = results["scenarios"]["S1"]
    for label in ROWS:
        row = s1[label]
        assert row["reps"] == 1 and not row["status"], row
        assert row["errors"] == 0 and row["non2xx"] == 0, row
        assert row["cpu_us_per_op"] > 0 and row["rps"] > 0, row
        assert row["facts"]["body_bytes"] == 1024, row
    assert (tmp_path / "latest.md").read_text().count("| edged |") == 1
    # Nothing it started is left running (its processes all name its temporary directory).
    tmp = re.search(r"files in (/\S+edged-bench-\S+)", out.stderr)
    assert tmp, out.stderr[-2000:]
    left = subprocess.run(["pgrep", "-f", tmp.group(1)], capture_output=True, text=True).stdout
    assert not left.strip(), left
