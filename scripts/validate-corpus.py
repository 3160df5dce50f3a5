#!/usr/bin/env python3
"""Runs `arazzo validate` over every Arazzo document of ../shared/corpus and
prints, as Markdown: diagnostics per code, how many point at a whole step or
workflow object instead of a field, and the slowest documents with their time
and peak memory.

The corpus names most OpenAPI descriptions by raw.githubusercontent.com URL;
the files were copied beside the documents. So that no request leaves the
machine, the documents are copied to a temporary folder and each such URL whose
file is in the corpus is rewritten to a relative path (nothing else changes).
URLs whose file is not in the corpus stay as they are and end in `source/load`.

Usage: scripts/validate-corpus.py [ARAZZO_BIN] (default target/release/arazzo)
"""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "..", "shared", "corpus")
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target/release/arazzo"))
RAW = re.compile(r"https://raw\.githubusercontent\.com/([^/]+)/([^/]+)/(?:refs/heads/)?[^/]+/([^\"'\s#]+)")
WHOLE_OBJECT = re.compile(r"^/workflows/\d+(/steps/\d+)?$")


def is_arazzo(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            head = f.read(4000)
    except OSError:
        return False
    return bool(re.search(r'^arazzo:|"arazzo"\s*:', head, re.M))


def localise(work):
    """Rewrites raw GitHub URLs to the copied files; returns the documents."""
    docs = []
    for dirpath, _, names in os.walk(work):
        for n in names:
            p = os.path.join(dirpath, n)
            if not n.endswith((".yaml", ".yml", ".json")) or not is_arazzo(p):
                continue
            text = open(p, encoding="utf-8", errors="surrogateescape").read()

            def local(m):
                repo = os.path.join(work, f"{m.group(1)}__{m.group(2)}", m.group(3))
                if os.path.isfile(repo):
                    return os.path.relpath(repo, dirpath)
                return m.group(0)

            new = RAW.sub(local, text)
            if new != text:
                open(p, "w", encoding="utf-8", errors="surrogateescape").write(new)
            docs.append(p)
    return sorted(docs)


def measure(doc):
    """Diagnostics, seconds and peak KiB of one `validate --format json`."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [BIN, "validate", doc, "--format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=os.path.dirname(doc),
    )
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, 60.0, 0, "timeout"
    status = proc.returncode
    seconds = time.monotonic() - start
    try:
        diags = json.loads(out)
    except ValueError:
        diags = None
    return diags, seconds, status, None


def main():
    work = tempfile.mkdtemp(prefix="arazzo-corpus-")
    try:
        shutil.copytree(CORPUS, os.path.join(work, "c"))
        docs = localise(os.path.join(work, "c"))
        codes = collections.Counter()
        severities = collections.Counter()
        whole = collections.Counter()
        times = []
        broken = []
        # ARAZZO_CORPUS_DUMP=FILE: every diagnostic as a JSON line, to read them.
        dump_path = os.environ.get("ARAZZO_CORPUS_DUMP")
        dump = open(dump_path, "w") if dump_path else None
        for doc in docs:
            rel = os.path.relpath(doc, os.path.join(work, "c"))
            # Peak memory from a second, identical run under /usr/bin/time.
            diags, seconds, status, why = measure(doc)
            peak = peak_kib(doc)
            times.append((seconds, peak, rel))
            if diags is None:
                broken.append((rel, status, why))
                continue
            for d in diags:
                if dump:
                    dump.write(json.dumps({"doc": rel, **d}) + "\n")
                codes[d["code"]] += 1
                severities[d["severity"]] += 1
                if WHOLE_OBJECT.match(d.get("pointer") or "-"):
                    whole[d["code"]] += 1
        total = sum(codes.values())
        print(f"Documents: {len(docs)}; diagnostics: {total} "
              f"({severities['error']} errors, {severities['warning']} warnings)\n")
        share = 100.0 * sum(whole.values()) / total if total else 0.0
        print(f"Pointing at a whole step or workflow object: {sum(whole.values())} ({share:.1f}%)"
              + (": " + ", ".join(f"{c} {n}" for c, n in whole.most_common()) if whole else "") + "\n")
        print("| code | count |\n|---|---:|")
        for c, n in codes.most_common():
            print(f"| `{c}` | {n} |")
        print("\nSlowest documents (wall time, peak memory):\n")
        print("| document | time | peak memory |\n|---|---:|---:|")
        for seconds, peak, rel in sorted(times, reverse=True)[:8]:
            print(f"| `{rel}` | {seconds * 1000:.0f} ms | {peak / 1024:.1f} MiB |")
        if broken:
            print("\nNo JSON output (a bug):")
            for b in broken:
                print(f"- {b}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def peak_kib(doc):
    r = subprocess.run(
        ["/usr/bin/time", "-f", "%M", BIN, "validate", doc, "--format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=os.path.dirname(doc),
        timeout=60,
    )
    try:
        return int(r.stderr.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


if __name__ == "__main__":
    main()
