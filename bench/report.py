"""Turns bench/results/results.json into results.md and the PNG charts.

    python report.py results/results.json results/

Every ratio in the "ours vs peer" column is a speed-up: ours ÷ peer for rates, peer ÷
ours for times and sizes, so above 1 means ours is better. A target is checked against
the medians of the same run.
"""

import json
import os
import sys


def rows(cfg):
    """The table: one dict per line. `job` and `m` name the median figure of ours."""
    r, v1, v2 = cfg["records"], cfg["vectors"][0], cfg["vectors"][-1]
    kv, ev, st, js, br = "kv@%d" % r, "events@%d" % r, "state@%d" % r, "json@%d" % r, "branches@%d" % r
    vec1, vec2 = "vectors@%d" % v1, "vectors@%d" % v2
    sq = lambda job, m, label="sqlite3": (label, job, "sqlite", m)  # noqa: E731
    out = [
        dict(w="kv_put, standard", metric="puts/s", job=kv, m="put_ops", unit="rate",
             base=[sq(kv, "put_ops", "sqlite3 NORMAL"), ("Python dict", kv, "dict", "put_ops")], target=("peer", 8)),
        dict(w="kv_get, random hits", metric="gets/s", job=kv, m="get_ops", unit="rate",
             base=[sq(kv, "get_ops"), ("Python dict", kv, "dict", "get_ops")], target=("peer", 8)),
        dict(w="kv_put, always, 1 thread", metric="puts/s", job="kv_always", m="put_ops_1t", unit="rate",
             base=[("write+fsync loop", "kv_always", "fsync", "put_ops_1t"), sq("kv_always", "put_ops_1t", "sqlite3 FULL")],
             target=("base", 0.9, "write+fsync loop")),
        dict(w="kv_put, always, 4 threads", metric="puts/s", job="kv_always", m="put_ops_4t", unit="rate",
             base=[sq("kv_always", "put_ops_4t", "sqlite3 FULL")], target=("self", 3, "put_ops_1t", "our 1-thread rate")),
        dict(w="event_append", metric="appends/s", job=ev, m="append_ops", unit="rate",
             base=[sq(ev, "append_ops")], target=("peer", 40)),
        dict(w="event_append, last 1,000", metric="appends/s", job=ev, m="append_tail_ops", unit="rate",
             base=[sq(ev, "append_tail_ops")], target=("self", 0.8, "append_ops", "our overall rate")),
        dict(w="event_list, one type of %s" % n(r), metric="ms per call", job=ev, m="list_ms", unit="ms",
             lower=True, base=[sq(ev, "list_ms")], target=("peer", 20)),
        dict(w="state_cas, 1 thread", metric="CAS/s", job=st, m="cas_1t_ops", unit="rate",
             base=[sq(st, "cas_1t_ops")], target=("peer", 5)),
        dict(w="state_cas, 2 threads contending", metric="successful CAS/s", job=st, m="cas_2t_ops", unit="rate",
             base=[sq(st, "cas_2t_ops")], target=("peer", 100)),
        dict(w="state_cas, stale version", metric="CAS/s", job=st, m="cas_stale_ops", unit="rate",
             base=[sq(st, "cas_stale_ops")], target=("peer", 10000)),
        dict(w="json_set at $.a.b", metric="sets/s", job=js, m="set_ops", unit="rate",
             base=[sq(js, "set_ops", "sqlite3 json_set")], target=("peer", 5)),
        dict(w="json_get at $.a.b", metric="gets/s", job=js, m="get_ops", unit="rate",
             base=[sq(js, "get_ops", "sqlite3 json_extract")], target=("peer", 3)),
    ]
    for size, job in ((v1, vec1), (v2, vec2)):
        out.append(dict(w="vector batch upsert, %s × 384" % n(size), metric="vectors/s", job=job, m="batch_upsert_ops",
                        unit="rate", base=[("hnswlib add_items", job, "hnswlib", "batch_upsert_ops")], target=("peer", 5)))
    out.append(dict(w="vector single upsert", metric="upserts/s", job=vec1, m="single_upsert_ops", unit="rate",
                    base=[], target=None))
    for size, job in ((v1, vec1), (v2, vec2)):
        out.append(dict(w="vector search k=10, %s × 384" % n(size), metric="queries/s", job=job, m="search_qps",
                        unit="rate", base=[("NumPy brute force", job, "numpy", "search_qps"),
                                           ("NumPy, 1 BLAS thread", job, "numpy-1t", "search_qps"),
                                           ("hnswlib ef=64", job, "hnswlib", "search_qps")],
                        target=("base", 1, "NumPy brute force")))
        out.append(dict(w="vector search recall@10, %s" % n(size), metric="recall", job=job, m="recall_at_10",
                        unit="recall", base=[("hnswlib ef=64", job, "hnswlib", "recall_at_10")], target=None))
    out += [
        dict(w="fork_branch, %s keys" % n(r), metric="ms", job=br, m="fork_ms", unit="ms", lower=True,
             base=[], target=("max", 1.0, "≤ 1 ms")),
        dict(w="fork_branch, %s → %s keys" % (n(min(cfg["sweep"])), n(max(cfg["sweep"]))), metric="growth of fork time",
             job=None, m="fork_growth", unit="x", lower=True, base=[], target=("max", 2.0, "flat (≤ 2×)")),
        dict(w="diff_branches, 1,000 changes on %s" % n(r), metric="ms", job=br, m="diff_ms", unit="ms", lower=True,
             base=[], target=("peer", 100)),
        dict(w="merge_branches, 1,000 changes on %s" % n(r), metric="ms", job=br, m="merge_ms", unit="ms", lower=True,
             base=[], target=("peer", 100)),
        dict(w="reopen after %s puts" % n(r), metric="ms to open + 1 read", job="reopen@%d" % r, m="clean_open_ms",
             unit="ms", lower=True, base=[sq("reopen@%d" % r, "clean_open_ms")], target=("peer", 10)),
        dict(w="recovery after SIGKILL, %s puts" % n(r), metric="ms to open + 1 read", job="reopen@%d" % r,
             m="kill_open_ms", unit="ms", lower=True, base=[sq("reopen@%d" % r, "kill_open_ms")], target=("peer", 10)),
        dict(w="bytes on disk after compact(), %s" % n(r), metric="÷ raw payload", job="disk@%d" % r,
             m="bytes_over_raw", unit="x", lower=True, base=[sq("disk@%d" % r, "bytes_over_raw")],
             target=("max", 1.0, "≤ 1× raw")),
        dict(w="peak RSS, %s KV records" % n(r), metric="MB (whole process)", job=kv, m="rss_peak_mb", unit="mb",
             lower=True, base=[sq(kv, "rss_peak_mb")], target=("le", "sqlite3")),
        dict(w="RSS growth, %s KV records" % n(r), metric="MB (peak − after open)", job=kv, m="rss_growth_mb",
             unit="mb", lower=True, base=[sq(kv, "rss_growth_mb")], target=("le", "sqlite3")),
    ]
    return out


def n(x):
    for div, suffix in ((1_000_000, "M"), (1000, "k")):
        if x >= div and x % div == 0:
            return "%d%s" % (x // div, suffix)
    return "{:,}".format(x)


def fmt(v, unit):
    if v is None:
        return "—"
    if unit == "rate":
        return "{:,.0f}".format(v) if v >= 100 else "%.3g" % v
    if unit == "ms":
        return "%.3g" % v if v < 1000 else "{:,.0f}".format(v)
    if unit == "x":
        return "%.2f×" % v
    if unit == "recall":
        return "%.3f" % v
    if unit == "mb":
        return "%.1f" % v
    return "%.3g" % v


def ratio_text(x):
    if x is None:
        return "—"
    return ("%.3g×" % x) if x < 1000 else "{:,.0f}×".format(x)


class Figures:
    def __init__(self, results):
        self.med = results["median"]
        self.cfg = results["config"]

    def get(self, job, target, m):
        if job is None and m == "fork_growth":
            return self.fork_growth(target)
        fig = self.med.get(job, {}).get(target, {})
        v = fig.get(m)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def why_missing(self, job, target):
        fig = self.med.get(job, {}).get(target)
        if fig is None:
            return "not run"
        return fig.get("error", "no figure")

    def fork_growth(self, target):
        sizes = sorted(self.cfg["sweep"])
        lo = self.get("branches@%d" % sizes[0], target, "fork_ms")
        hi = self.get("branches@%d" % sizes[-1], target, "fork_ms")
        return hi / lo if lo and hi else None


def evaluate(row, f):
    ours = f.get(row["job"], "ours", row["m"])
    peer = f.get(row["job"], "peer", row["m"])
    lower = row.get("lower", False)
    speedup = None
    if ours and peer:
        speedup = peer / ours if lower else ours / peer
    t = row["target"]
    text, met, achieved = "", None, ""
    if t is None:
        return speedup, "—", None, ""
    kind = t[0]
    if kind == "peer":
        text = "≥ %s× peer" % "{:,}".format(t[1])
        if speedup is not None:
            met, achieved = speedup >= t[1], ratio_text(speedup)
    elif kind == "base":
        label = t[2]
        # Every variant of the named baseline counts; the best one is the bar.
        found = [f.get(j, tg, m) for (lab, j, tg, m) in row["base"] if lab.startswith(label.split()[0])]
        found = [x for x in found if x is not None]
        b = max(found) if found else None
        text = "≥ %g× %s" % (t[1], label if len(found) < 2 else "the best " + label.split()[0])
        if ours is not None and b:
            met, achieved = ours >= t[1] * b, "%.2f×" % (ours / b)
    elif kind == "self":
        other = f.get(row["job"], "ours", t[2])
        text = "≥ %g× %s" % (t[1], t[3])
        if ours is not None and other:
            met, achieved = ours >= t[1] * other, "%.2f×" % (ours / other)
    elif kind == "max":
        text = t[2]
        if ours is not None:
            met, achieved = ours <= t[1], fmt(ours, row["unit"])
    elif kind == "le":
        b = next((f.get(j, tg, m) for (lab, j, tg, m) in row["base"] if lab.startswith(t[1])), None)
        text = "≤ %s's" % t[1]
        if ours is not None and b:
            met, achieved = ours <= b, "%.2f×" % (ours / b)
    return speedup, text, met, achieved


def table(results):
    f = Figures(results)
    lines = ["| workload | metric | ours | peer 0.6.0 | baselines | ours vs peer | target | met? |",
             "|---|---|---:|---:|---|---:|---|---|"]
    summary = []
    for row in rows(results["config"]):
        ours = f.get(row["job"], "ours", row["m"])
        peer = f.get(row["job"], "peer", row["m"])
        speedup, text, met, achieved = evaluate(row, f)
        base = "; ".join("%s %s" % (lab, fmt(f.get(j, tg, m), row["unit"]))
                         for (lab, j, tg, m) in row["base"] if f.get(j, tg, m) is not None)
        peer_cell = fmt(peer, row["unit"]) if peer is not None or row["job"] is None else \
            "skipped: " + f.why_missing(row["job"], "peer")[:80]
        mark = "—" if met is None else ("**yes** (%s)" % achieved if met else "no (%s)" % achieved)
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            row["w"], row["metric"], fmt(ours, row["unit"]), peer_cell, base or "—",
            ratio_text(speedup), text or "—", mark))
        summary.append({"workload": row["w"], "metric": row["metric"], "ours": ours, "peer": peer,
                        "speedup_vs_peer": speedup, "target": text, "met": met})
    return "\n".join(lines), summary


def sweep_table(results):
    f = Figures(results)
    sizes = sorted(results["config"]["sweep"])
    specs = [("kv_put", "kv", "put_us", "µs/op"), ("kv_get", "kv", "get_us", "µs/op"),
             ("fork_branch", "branches", "fork_ms", "ms"), ("vector search k=10", "vectors", "search_ms", "ms/query")]
    head = "| operation | target | " + " | ".join(n(s) for s in sizes) + " |"
    lines = [head, "|---|---|" + "---:|" * len(sizes)]
    for label, wl, m, unit in specs:
        for target in ("ours", "peer", "numpy", "numpy-1t"):
            vals = [f.get("%s@%d" % (wl, s), target, m) for s in sizes]
            if all(v is None for v in vals):
                continue
            cells = ["%.3g" % v if v is not None else "—" for v in vals]
            lines.append("| %s (%s) | %s | %s |" % (label, unit, target, " | ".join(cells)))
    return "\n".join(lines)


def charts(results, out_dir, summary):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker  # noqa: F401

    made = []
    pts = [s for s in summary if s["speedup_vs_peer"]]
    if pts:
        fig, ax = plt.subplots(figsize=(9, 0.38 * len(pts) + 1.2))
        labels = ["%s (%s)" % (p["workload"], p["metric"]) for p in pts]
        vals = [p["speedup_vs_peer"] for p in pts]
        colors = ["#2a9d8f" if p["met"] else ("#e76f51" if p["met"] is False else "#8d99ae") for p in pts]
        y = range(len(pts))
        ax.barh(y, vals, color=colors)
        for i, p in enumerate(pts):
            if p["target"].startswith("≥") and "peer" in p["target"]:
                goal = float(p["target"].split("≥")[1].split("×")[0].replace(",", ""))
                ax.plot([goal, goal], [i - 0.4, i + 0.4], color="black", linewidth=2)
        ax.set_yticks(list(y))
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _pos: "%g×" % x))
        ax.axvline(1, color="grey", linewidth=0.8)
        ax.set_xlabel("speed-up of ours over stratadb 0.6.0 (×, log scale; black tick = target)")
        ax.set_title("ours vs the published package; colour: the row's target met (green), "
                     "not met (red), no target (grey)", fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, "ratios.png"), dpi=110)
        plt.close(fig)
        made.append("ratios.png")

    f = Figures(results)
    sizes = sorted(results["config"]["sweep"])
    specs = [("kv_put", "kv", "put_us", "µs per put"), ("kv_get", "kv", "get_us", "µs per get"),
             ("fork_branch", "branches", "fork_ms", "ms per fork"), ("vector search k=10", "vectors", "search_ms",
                                                                      "ms per query")]
    fig, axes = plt.subplots(2, 2, figsize=(9, 7))
    for ax, (title, wl, m, ylabel) in zip(axes.flat, specs):
        for target, style in (("ours", "o-"), ("peer", "s--"), ("numpy", "^:"), ("numpy-1t", "v:")):
            xs = [s for s in sizes if f.get("%s@%d" % (wl, s), target, m) is not None]
            if xs:
                ax.plot(xs, [f.get("%s@%d" % (wl, s), target, m) for s in xs], style,
                        label={"peer": "stratadb 0.6.0", "numpy": "NumPy brute force",
                               "numpy-1t": "NumPy, 1 BLAS thread"}.get(target, target))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("records")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    fig.suptitle("Scaling sweep: cost per operation (log-log)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "scaling.png"), dpi=110)
    plt.close(fig)
    made.append("scaling.png")
    return made


def problems(results):
    """Correctness checks the workloads report (a fast wrong answer is not a result)."""
    notes = []
    for job, targets in results["median"].items():
        for target, fig in targets.items():
            if "error" in fig and fig["error"] != "unsupported":
                notes.append("%s / %s: %s" % (job, target, fig["error"][:200]))
            for name, v in fig.items():
                if name.endswith(("_ok", "check")) and v is False:
                    notes.append("%s / %s: check `%s` failed" % (job, target, name))
                if name == "get_misses" and v:
                    notes.append("%s / %s: %d gets missed" % (job, target, v))
    return notes


def markdown(results, table_md, sweep_md, images):
    m, c = results["machine"], results["config"]
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` (`bench/run.py`) on %s, in %.0f s." % (m["date"], results.get("elapsed_s", 0)),
        "",
        "Machine: %s, %s cores, %s GiB RAM, disk %s, Linux %s, Python %s." % (
            m["cpu"], m["cores"], m["ram_gib"], m["disk"], m["kernel"], m["python"]),
        "Packages: ours %s (commit %s), peer stratadb %s." % (
            m["packages"].get("ours"), m["commit"], m["packages"].get("peer")),
        "Sizes: %s records; vectors %s × 384; sweep %s; always-mode phases %g s; slow phases stop after %g s; "
        "%d runs per workload and target, median shown (%d for sweep sizes above %s)." % (
            "{:,}".format(c["records"]), " and ".join(n(v) for v in c["vectors"]), ", ".join(n(s) for s in c["sweep"]),
            c["seconds"], c["budget"], c["reps"], c.get("big_reps", c["reps"]), "{:,}".format(c["records"])),
        "",
        "\"ours vs peer\" is a speed-up (ours ÷ peer for rates, peer ÷ ours for times and sizes): above 1× ours is "
        "better. \"met?\" shows the figure the target is checked on.",
        "",
        table_md,
        "",
        "## Scaling sweep",
        "",
        sweep_md,
        "",
    ]
    issues = problems(results)
    if issues:
        lines += ["## Problems in this run", ""] + ["- " + i for i in issues] + [""]
    for img in images:
        lines += ["![%s](%s)" % (img[:-4], img), ""]
    return "\n".join(lines)


def write(results, out_dir):
    table_md, summary = table(results)
    images = charts(results, out_dir, summary)
    md = markdown(results, table_md, sweep_table(results), images)
    with open(os.path.join(out_dir, "results.md"), "w") as fh:
        fh.write(md)
    results["summary"] = summary
    with open(os.path.join(out_dir, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, sort_keys=True)


if __name__ == "__main__":
    with open(sys.argv[1]) as fh:
        data = json.load(fh)
    write(data, sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(sys.argv[1])))
