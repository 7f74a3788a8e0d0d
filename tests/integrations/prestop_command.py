#!/usr/bin/env python3
"""Print the preStop exec command of a container in a Kubernetes manifest, one argument a line,
rewritten for a local run: the binary from the build tree, the port, health URL and token file
given here; every other option (min-drain, backend, timeout) as the manifest has it.
Usage: prestop_command.py MANIFEST CONTAINER INSPECTOR PORT TOKEN_FILE"""
import sys
import urllib.parse

import yaml


def main():
    manifest, container, inspector, port, token_file = sys.argv[1:6]
    with open(manifest, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    if len(deployments) != 1:
        sys.exit(f"{manifest}: expected one Deployment, found {len(deployments)}")
    pod = deployments[0]["spec"]["template"]["spec"]
    cmd = None
    for c in pod["containers"]:
        if c["name"] == container:
            cmd = c["lifecycle"]["preStop"]["exec"]["command"]
    if not cmd:
        sys.exit(f"{manifest}: container {container} has no preStop exec command")
    if cmd[0] != "drain-inspector" or cmd[1] != "wait":
        sys.exit(f"{manifest}: the preStop hook is not `drain-inspector wait`: {cmd}")
    out = [inspector, "wait"]
    for arg in cmd[2:]:
        key, _, value = arg.partition("=")
        if key == "--port":
            value = port
        elif key == "--token-file":
            value = token_file
        elif key == "--health-url":
            u = urllib.parse.urlsplit(value)
            value = urllib.parse.urlunsplit((u.scheme, f"127.0.0.1:{port}", u.path, u.query, ""))
        out.append(f"{key}={value}" if value else key)
    print("\n".join(out))


if __name__ == "__main__":
    main()
