"""The Python half of `bench/gpu_check.sh`: the install check, ordered and parallel pytest, the summary.

    python -m bench.gpu_check where                    # exit 0 when tritongrad (and its kernels) import from here
    python -m bench.gpu_check shim DIR                 # DIR/tritongrad: this checkout's package with kernels/ in it
    python -m bench.gpu_check pytest --workers N --junit PREFIX [--xdist] [--interleave] -- PYTEST_ARGS...
    python -m bench.gpu_check summary --out OUT --work WORK [--print]

``pytest`` collects the selected tests (``--interleave``: reordered round-robin over files, functions and ops,
so a stage cut short has touched every kernel family) and runs them with pytest-xdist (``--xdist``: ``-n N``,
one ``PREFIX.xml``) or else in N pytest processes of its own (contiguous runs of ten tests dealt round-robin, so
one op's dtypes mostly stay in one process and compile its kernels once), each writing ``PREFIX.K.xml``;
it ignores SIGINT and waits: the processes are in its process group, which ``timeout`` signals as a whole, so
each of them stops and still writes its report. Either way kernels compile in N processes at once (kernel
compilation is CPU work: one GPU is shared fine).

``summary`` reads what the stages left in WORK (``stages.jsonl``: one JSON object per finished stage, written by
the shell script; ``NAME.log``; ``NAME*.xml`` JUnit reports; ``smoke.json``) and OUT/``gpu_bench.json``, and
writes OUT/``summary.json``, OUT/``summary.md``, OUT/``junit.xml`` (every stage's test cases) and OUT/``check.log``
(every stage's log). It is run after every stage, so an interrupted check still leaves a current summary.

Also a pytest plugin (``-p bench.gpu_check``) for the GPU test stages: with ``GPU_CHECK_QUICK_AUTOTUNE=1`` the
autotuner benchmarks each config with ``warmup=5, rep=20`` ms instead of 25 and 100 (tests check results, not
speed; every config the pruner keeps is still compiled and run).
"""
from __future__ import annotations

import argparse
import glob
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_TRACEBACKS = 10
TRACEBACK_CHARS = 6000
PACKAGES = ("triton", "torch", "numpy", "cuda-bindings", "ml_dtypes", "safetensors", "pytest", "pytest-xdist",
            "pytest-timeout", "pytest-benchmark", "hypothesis")


# ------------------------------------------------------------------------------ where / shim
def where():
    """``(ok, message)``: do ``tritongrad`` and ``tritongrad.kernels`` import from this checkout?"""
    try:
        import tritongrad
        import tritongrad.kernels
    except Exception as e:  # not importable at all: the caller installs
        return False, f"import failed: {type(e).__name__}: {e}"
    here = [os.path.realpath(os.path.join(REPO, p, "__init__.py")) for p in ("tritongrad", "kernels")]
    got = [os.path.realpath(m.__file__) for m in (tritongrad, tritongrad.kernels)]   # a shim links to the files
    if got != here:
        return False, f"tritongrad imports from {got}, not this checkout {here}"
    return True, f"tritongrad {tritongrad.__version__} imports from this checkout ({REPO})"


def make_shim(dest):
    """``dest/tritongrad``: links to every entry of this checkout's ``tritongrad/`` plus ``kernels`` linked in as
    ``tritongrad/kernels`` (what pyproject.toml's package-dir does), for ``PYTHONPATH=dest`` with
    ``PYTHONSAFEPATH=1`` (so the checkout's own ``tritongrad/``, without kernels, is not found first)."""
    pkg = os.path.join(dest, "tritongrad")
    os.makedirs(pkg, exist_ok=True)
    src = os.path.join(REPO, "tritongrad")
    entries = [(os.path.join(src, n), n) for n in os.listdir(src) if n != "__pycache__"]
    for target, name in entries + [(os.path.join(REPO, "kernels"), "kernels")]:
        link = os.path.join(pkg, name)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
    return pkg


# ------------------------------------------------------------------------------ parallel pytest
def _collect(pytest_args):
    args = [a for a in pytest_args if not re.fullmatch(r"-[qv]+|--quiet|--verbose", a)]   # one -q: one id a line
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", *args],
                         capture_output=True, text=True, cwd=REPO)
    ids = [line.strip() for line in out.stdout.splitlines() if "::" in line and not line.startswith(" ")]
    return ids, out


def shards(ids, workers, run=10):
    """Deal contiguous runs of ``run`` test ids round-robin into ``workers`` lists (empty lists dropped)."""
    parts = [[] for _ in range(max(1, workers))]
    for i in range(0, len(ids), run):
        parts[(i // run) % len(parts)].extend(ids[i:i + run])
    return [p for p in parts if p]


def interleave(ids):
    """The test ids reordered round-robin over groups -- a file and test function, and for the op table
    (``test_op[<op>-<dtype>-<device>]``) each op -- so the first tests to run touch every group, i.e. every
    kernel family, once; a stage stopped at its limit has then covered the most ground."""
    order, seen, keyed = {}, {}, []
    for i in ids:
        path, _, name = i.partition("::")
        func, _, param = name.partition("[")
        group = (path, func, param.split("-")[0] if func == "test_op" else "")
        order.setdefault(group, len(order))
        seen[group] = seen.get(group, -1) + 1
        keyed.append((seen[group], order[group], i))
    return [i for _, _, i in sorted(keyed)]


def _options(pytest_args):
    """The options of ``pytest_args`` that stay when test ids replace the selection: paths, -m and -k go (the
    collection applied them)."""
    keep_value = {"-o", "-p", "--timeout", "--timeout-method", "--durations", "-W", "-n"}
    opts = []
    it = iter(pytest_args)
    for a in it:
        if a in ("-m", "-k"):
            next(it, None)
        elif a in keep_value:
            opts += [a, next(it, "")]
        elif a.startswith("-"):
            opts.append(a)
    return opts


def _ignore_sigint():
    """``timeout`` signals the whole process group, the pytest processes too: from now on this process ignores
    SIGINT and waits for them to write their reports. (Only after they started: an ignored SIGINT would be
    inherited, and Python leaves an ignored SIGINT ignored.)"""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_parallel(workers, junit, pytest_args, xdist=False, ordered=False):
    """Run the tests ``pytest_args`` select, ``interleave``d when ``ordered``: with pytest-xdist (``xdist``) in
    one pytest of ``workers`` processes writing ``junit``.xml, else in ``workers`` pytest processes of their
    own writing ``junit``.K.xml. Exit status as pytest's (the worst of them)."""
    ids, collected = _collect(pytest_args)
    if not ids:
        print(collected.stdout[-3000:] + collected.stderr[-3000:], flush=True)
        return collected.returncode or 5
    if ordered:
        ids = interleave(ids)
    opts = _options(pytest_args)
    if xdist:
        print(f"[gpu_check] {len(ids)} tests{' interleaved' if ordered else ''}, {workers} pytest-xdist workers",
              flush=True)
        proc = subprocess.Popen([sys.executable, "-m", "pytest", *opts, "-n", str(workers), "--junitxml",
                                 f"{junit}.xml", *ids], cwd=REPO)
        _ignore_sigint()
        return proc.wait()
    parts = shards(ids, workers)
    print(f"[gpu_check] {len(ids)} tests in {len(parts)} pytest processes (no pytest-xdist)", flush=True)
    procs = []
    for k, part in enumerate(parts):
        log = open(f"{junit}.{k}.log", "w")
        procs.append((subprocess.Popen([sys.executable, "-m", "pytest", *opts, "--junitxml", f"{junit}.{k}.xml",
                                        *part], stdout=log, stderr=subprocess.STDOUT, cwd=REPO), log))
    _ignore_sigint()
    codes = []
    for p, log in procs:
        codes.append(p.wait())
        log.close()
    for k in range(len(parts)):
        with open(f"{junit}.{k}.log") as f:
            print(f"----- pytest process {k} -----\n" + f.read(), flush=True)
    return max(codes)


# ------------------------------------------------------------------------------ summary
def _versions():
    found = {}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def environment(work):
    """Facts about the machine (cached in WORK/env.json): python, packages (by metadata: torch is never
    imported), nvidia-smi's GPU, driver and memory, CPU count, git commit."""
    path = os.path.join(work, "env.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    env = {"python": platform.python_version(), "executable": sys.executable, "cpus": os.cpu_count(),
           "packages": _versions(), "TRITON_INTERPRET": os.environ.get("TRITON_INTERPRET"),
           "TRITON_CACHE_DIR": os.environ.get("TRITON_CACHE_DIR")}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,"
                              "clocks.max.sm,temperature.gpu,power.draw", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        env["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.SubprocessError) as e:
        env["nvidia_smi"] = f"not available ({type(e).__name__})"
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                           timeout=5, cwd=REPO).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        env["git_commit"] = None
    with open(path, "w") as f:
        json.dump(env, f, indent=1)
    return env


def _read_stages(work):
    stages = []
    path = os.path.join(work, "stages.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    try:
                        stages.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        stages.append({"name": "?", "status": "unreadable record", "note": f"{e}: {line[:200]}"})
    return stages


def junit_cases(paths):
    """``(counts, failures, cases)`` of JUnit files: counts of tests, passed, failed, errors, skipped; failing
    cases ``{"test", "kind", "message", "traceback"}``; every ``<testcase>`` element (for the merged file)."""
    counts = {"tests": 0, "passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    failures, cases = [], []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as e:
            failures.append({"test": os.path.basename(path), "kind": "report", "message": f"unreadable: {e}",
                             "traceback": ""})
            continue
        for case in root.iter("testcase"):
            cases.append(case)
            counts["tests"] += 1
            name = f"{case.get('classname')}::{case.get('name')}"
            bad = [(k, el) for k in ("failure", "error") for el in case.findall(k)]
            if case.findall("skipped") and not bad:
                counts["skipped"] += 1
            elif bad:
                counts["failed" if bad[0][0] == "failure" else "errors"] += 1
                for kind, el in bad:
                    failures.append({"test": name, "kind": kind, "message": (el.get("message") or "").strip()[:500],
                                     "traceback": (el.text or "")[-TRACEBACK_CHARS:]})
            else:
                counts["passed"] += 1
    return counts, failures, cases


_PYTEST_LINE = re.compile(r"(\d+) (passed|failed|errors?|skipped|deselected|tests? collected)")
_COLLECTED = re.compile(r"(\d+)/\d+ tests? collected")


def _from_log(log):
    """Counts from pytest's last summary line in a log (when no JUnit report was written)."""
    found = {}
    for line in reversed(log.splitlines()):
        hits = _PYTEST_LINE.findall(line)
        if hits:
            selected = _COLLECTED.search(line)    # "12/6573 tests collected (6561 deselected)"
            if selected:
                hits = [(selected.group(1), "tests collected")]
            for n, what in hits:
                key = {"error": "errors", "errors": "errors", "test collected": "collected",
                       "tests collected": "collected"}.get(what, what)
                found[key] = int(n)
            break
    return found


def _read(path, limit=None):
    if not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        text = f.read()
    return text if limit is None else text[-limit:]


def _bench(out):
    path = os.path.join(out, "gpu_bench.json")
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        return {"error": f"unreadable gpu_bench.json: {e}"}


def summarize(out, work):
    """Build the summary dict and write summary.json, summary.md, junit.xml and check.log into ``out``."""
    env = environment(work)
    smoke = None
    if os.path.exists(os.path.join(work, "smoke.json")):
        with open(os.path.join(work, "smoke.json")) as f:
            smoke = json.load(f)
    stages, failures, all_cases, logs = [], [], [], []
    for rec in _read_stages(work):
        name = rec.get("name", "?")
        log = _read(os.path.join(work, name + ".log"))
        logs.append(f"===== {name}: {rec.get('status')} in {rec.get('seconds')} s (limit {rec.get('limit')} s) "
                    f"=====\n{log}")
        xmls = sorted(glob.glob(os.path.join(work, name + ".xml")) + glob.glob(os.path.join(work, name + ".*.xml")))
        if rec.get("kind") == "pytest":
            counts = {}
            if xmls:
                counts, bad, cases = junit_cases(xmls)
                all_cases += cases
                for b in bad:
                    b["stage"] = name
                failures += bad
            if not counts.get("tests"):   # no report, or an empty one (--collect-only): pytest's last line
                counts = _from_log(log) or counts
            rec["counts"] = counts
        stages.append(rec)
    bench = _bench(out)
    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "environment": env, "smoke": smoke,
               "stages": stages, "failures": failures[:500], "n_failures": len(failures)}
    if bench is not None:
        summary["benchmarks"] = _bench_digest(bench)
    _write(os.path.join(out, "summary.json"), json.dumps(summary, indent=1, default=str) + "\n")
    _write(os.path.join(out, "summary.md"), to_markdown(summary))
    share = 15_000_000 // max(1, len(logs))      # every stage keeps the end of its log within 15 MB in all
    _write(os.path.join(out, "check.log"), "\n".join(log if len(log) <= share else "[...]" + log[-share:]
                                                     for log in logs))
    _write(os.path.join(out, "junit.xml"), merged_junit(all_cases))
    return summary


def merged_junit(cases, limit=15_000_000):
    """One JUnit document of ``cases``; failure texts are cut (their ends kept) until it fits in ``limit``
    characters (the device tool returns files of at most 16 MB)."""
    for keep in (None, 20_000, 2_000, 200):
        for case in cases:
            for el in case:
                if keep is not None and el.text and len(el.text) > keep:
                    el.text = "[...]" + el.text[-keep:]
        suites = ET.Element("testsuites")
        ET.SubElement(suites, "testsuite", name="gpu_check", tests=str(len(cases))).extend(cases)
        text = ET.tostring(suites, encoding="unicode")
        if len(text) <= limit:
            break
    return text


def _bench_digest(bench):
    if "error" in bench and "rows" not in bench:
        return bench
    rows = bench.get("rows", [])
    bad = [f"{r['section']}/{r['case']}" for r in rows if r.get("check") and not r["check"].get("ok")]
    return {"meta": bench.get("meta", {}), "rows": len(rows), "failed_checks": bad,
            "sections": {k: {"status": v.get("status"), "seconds": v.get("seconds"),
                             "note": (v.get("error") or v.get("note") or "")[:300]}
                         for k, v in bench.get("sections", {}).items()},
            "table": [{k: r.get(k) for k in ("section", "case", "unit", "tritongrad", "torch", "ceiling",
                                             "vs_torch", "pct_of_ceiling")} for r in rows]}


def _write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _num(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return str(v)


def to_markdown(summary, tracebacks=True, compact=False):
    """The summary as markdown: environment, benchmarks, failing tests, one row per stage, then (with
    ``tracebacks``) the first `N_TRACEBACKS` tracebacks. ``compact``: at most 30 benchmark rows and 20 failing
    tests, case names cut to 70 characters."""
    env, smoke = summary["environment"], summary.get("smoke") or {}
    pk = env.get("packages", {})
    cut = (lambda text: text[:70]) if compact else (lambda text: text)
    lines = [f"# gpu_check, {summary['date']}", "",
             f"GPU: {smoke.get('device') or env.get('nvidia_smi')}; driver/GPU (nvidia-smi): {env.get('nvidia_smi')}",
             f"python {env.get('python')}, triton {pk.get('triton')}, torch {pk.get('torch')}, numpy {pk.get('numpy')}, "
             f"cuda-bindings {pk.get('cuda-bindings')}, pytest-xdist {pk.get('pytest-xdist')}, pytest-timeout "
             f"{pk.get('pytest-timeout')}; {env.get('cpus')} CPUs; commit {env.get('git_commit')}; "
             f"TRITON_INTERPRET={env.get('TRITON_INTERPRET')}", ""]
    if smoke:
        lines += [f"smoke: {smoke.get('status')}: " + "; ".join(f"{k} {v}" for k, v in smoke.get("checks", {}).items()),
                  ""]
    b = summary.get("benchmarks")
    if b:
        lines += ["## Benchmarks (gpu_bench.md has the full table)", ""]
        if "table" in b:
            meta, rows = b["meta"], b["table"][:30] if compact else b["table"]
            lines += [f"copy ceiling {_num(meta.get('copy_bandwidth_gbs'))} GB/s; torch.matmul peak "
                      f"{meta.get('torch_matmul_peak_tflops')} TFLOP/s; failed checks: {b['failed_checks'] or 'none'}",
                      "", "| section | case | unit | tritongrad | torch | vs torch | % of ceiling |",
                      "|---|---|---|---:|---:|---:|---:|"]
            for r in rows:
                vs = "–" if r["vs_torch"] is None else f"{r['vs_torch']:.2f}x"
                pct = "–" if r["pct_of_ceiling"] is None else f"{r['pct_of_ceiling']:.0f}%"
                lines.append(f"| {r['section']} | {cut(r['case'])} | {r['unit']} | {_num(r['tritongrad'])} | "
                             f"{_num(r['torch'])} | {vs} | {pct} |")
            if len(rows) < len(b["table"]):
                lines.append(f"| ... | {len(b['table']) - len(rows)} more rows in gpu_bench.md | | | | | |")
            lines += [""] + [f"- section {k}: {v['status']} in {v['seconds']} s {cut(v['note'])}"
                             for k, v in b["sections"].items()]
        else:
            lines.append(str(b))
        lines.append("")
    if summary["failures"]:
        shown = 20 if compact else 60
        lines += [f"## Failing tests ({summary['n_failures']})", ""]
        for f in summary["failures"][:shown]:
            first = f["message"].splitlines()[0][:200] if f["message"] else ""
            lines.append(f"- [{f.get('stage')}] {f['kind'].upper()} {f['test']}: {cut(first)}")
        if summary["n_failures"] > shown:
            lines.append(f"- ... {summary['n_failures'] - shown} more in summary.json / junit.xml")
        lines.append("")
    lines += ["## Stages", "", "| stage | status | seconds | limit | tests | passed | failed | errors | skipped | note |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for st in summary["stages"]:
        c = st.get("counts") or {}
        tests = c.get("tests", c.get("collected"))
        lines.append(f"| {st.get('name')} | {st.get('status')} | {st.get('seconds', '–')} | {st.get('limit', '–')} | "
                     f"{_num(tests)} | {_num(c.get('passed'))} | {_num(c.get('failed'))} | {_num(c.get('errors'))} | "
                     f"{_num(c.get('skipped'))} | {st.get('note', '')} |")
    total = sum(st.get("seconds") or 0 for st in summary["stages"])
    ok = sum(st.get("status") == "ok" for st in summary["stages"])
    lines += ["", f"**{ok} of {len(summary['stages'])} stages ok; {summary['n_failures']} failing tests; "
                  f"{total} s in stages.**"]
    if tracebacks and summary["failures"]:
        lines += ["", f"## First {min(N_TRACEBACKS, summary['n_failures'])} tracebacks", ""]
        for f in summary["failures"][:N_TRACEBACKS]:
            lines += [f"### {f['test']}", "", "```", f["traceback"].strip(), "```", ""]
    return "\n".join(lines) + "\n"


def printed(summary, n=3, chars=1200):
    """What the script prints last (the device tool returns the last 12,000 characters of the output): the
    ends of the first ``n`` tracebacks, then the summary without tracebacks, its stage table at the end."""
    lines = []
    for f in summary["failures"][:n]:
        lines += [f"----- traceback of {f['test']} (its end; summary.md has the first {N_TRACEBACKS}) -----",
                  f["traceback"].strip()[-chars:]]
    return "\n".join(lines + [to_markdown(summary, tracebacks=False, compact=True)])


# ------------------------------------------------------------------------------ pytest plugin
def pytest_configure(config):
    if os.environ.get("GPU_CHECK_QUICK_AUTOTUNE") != "1":
        return
    import functools

    from tritongrad.runtime import timing, triton_driver
    quick = functools.partial(timing.do_bench, warmup=5, rep=20)
    triton_driver.TritongradCudaDriver.get_benchmarker = lambda self: quick


# ------------------------------------------------------------------------------ command line
def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("where", help="exit 0 when tritongrad and its kernels import from this checkout")
    s = sub.add_parser("shim", help="make DIR/tritongrad for PYTHONPATH=DIR PYTHONSAFEPATH=1")
    s.add_argument("dir")
    s = sub.add_parser("pytest", help="run pytest in N processes without pytest-xdist")
    s.add_argument("--workers", type=int, required=True)
    s.add_argument("--junit", required=True, help="prefix of the JUnit reports (PREFIX.xml or PREFIX.K.xml)")
    s.add_argument("--xdist", action="store_true", help="one pytest with pytest-xdist's -n WORKERS")
    s.add_argument("--interleave", action="store_true", help="run the tests round-robin over files/functions/ops")
    s.add_argument("pytest_args", nargs=argparse.REMAINDER)
    s = sub.add_parser("summary", help="write summary.json, summary.md, junit.xml and check.log")
    s.add_argument("--out", required=True)
    s.add_argument("--work", required=True)
    s.add_argument("--print", action="store_true", help="print the summary (without tracebacks)")
    s.add_argument("--exit-status", action="store_true",
                   help="exit 1 unless every stage passed and no test or benchmark check failed")
    args = p.parse_args(argv)
    if args.cmd == "where":
        ok, msg = where()
        print(msg)
        return 0 if ok else 1
    if args.cmd == "shim":
        print(make_shim(args.dir))
        return 0
    if args.cmd == "pytest":
        rest = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
        return run_parallel(args.workers, args.junit, rest, xdist=args.xdist, ordered=args.interleave)
    summary = summarize(args.out, args.work)
    if args.print:
        print(printed(summary))
    return 0 if not args.exit_status or clean(summary) else 1


def clean(summary):
    """Every stage passed (``more_tests`` may have stopped at the budget), no failing test, no failed
    benchmark check."""
    ok = all(st.get("status") in ("ok", "no tests", "partial") for st in summary["stages"])
    bench = summary.get("benchmarks") or {}
    return ok and not summary["n_failures"] and not bench.get("failed_checks") and "error" not in bench


if __name__ == "__main__":
    sys.exit(main())
