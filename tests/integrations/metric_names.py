#!/usr/bin/env python3
"""Every zdd_* metric the alert rules and the Grafana dashboard query must be one the exporters
emit. Usage: metric_names.py RULES DASHBOARD --emitted FILE... [--emitted-source CPP...]
                       [--only-prefix PREFIX...]
--emitted: real exposition text (drain-inspector metrics, a zdd --metrics-textfile).
--emitted-source: C++ that writes exposition text; names are taken from its string literals
(used only for exporters the test cannot run)."""
import argparse
import json
import re
import sys

import yaml

NAME = re.compile(r"\bzdd_[a-z0-9_]+\b")
# Label values or template variables that look like names but are not metrics.
SAMPLE = re.compile(r"^(zdd_[a-z0-9_]+)(\{|\s)")


def rule_names(path):
    names = set()
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    for group in doc["groups"]:
        for rule in group["rules"]:
            names |= set(NAME.findall(str(rule["expr"])))
    return names


def dashboard_names(path):
    names = set()
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "query", "definition") and isinstance(value, str):
                    names.update(NAME.findall(value))
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return names


def emitted_names(paths):
    names = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = SAMPLE.match(line)
                if m:
                    names.add(m.group(1))
    return names


def source_names(paths):
    names = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', f.read()):
                names.update(n for n in NAME.findall(literal))
    return names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rules")
    ap.add_argument("dashboard")
    ap.add_argument("--emitted", nargs="*", default=[])
    ap.add_argument("--emitted-source", nargs="*", default=[])
    ap.add_argument("--only-prefix", nargs="*", default=[],
                    help="check only the used names with these prefixes (one exporter's)")
    args = ap.parse_args()
    used = {"rules": rule_names(args.rules), "dashboard": dashboard_names(args.dashboard)}
    if args.only_prefix:
        used = {k: {n for n in v if n.startswith(tuple(args.only_prefix))} for k, v in used.items()}
    have = emitted_names(args.emitted) | source_names(args.emitted_source)
    bad = 0
    for where, names in used.items():
        if not names:
            print(f"{where}: no zdd_* metric found (parse error?)")
            bad += 1
        for n in sorted(names - have):
            print(f"{where}: {n} is not emitted by any exporter")
            bad += 1
    print(f"{len(used['rules'] | used['dashboard'])} metric names used, {len(have)} emitted")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
