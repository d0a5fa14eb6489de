#!/usr/bin/env python3
"""Adds lockfile entries for platform-specific optional packages the registry mirror lacks.

The npm registry reachable from our machines does not serve some other-platform binaries (for
example @msgpackr-extract/msgpackr-extract-darwin-arm64 answers 404), so `npm install` leaves
them out of package-lock.json and `npm ci` then refuses the lock as out of sync. Each missing
package is added with its version and the os/cpu its name declares; npm skips it on other
platforms without fetching anything. Run after `npm install` changes the lock:

    python3 scripts/complete-lockfile.py && npm ci
"""
import json
import re
import subprocess
import sys

LOCK = "package-lock.json"
OS_NAMES = ["android", "darwin", "freebsd", "linux", "openharmony", "win32"]
CPU_NAMES = ["arm64", "arm", "x64", "ia32", "loong64", "ppc64", "riscv64", "s390x"]


def platform_of(name: str):
    tail = name.split("/")[-1]
    os_name = next((o for o in OS_NAMES if re.search(rf"-{o}(-|$)", tail)), None)
    cpu = next((c for c in CPU_NAMES if re.search(rf"-{c}(-|$)", tail)), None)
    return os_name, cpu


def missing_packages():
    result = subprocess.run(["npm", "ci", "--dry-run"], capture_output=True, text=True)
    return sorted(set(re.findall(r"Missing: (\S+?)@ from lock file", result.stdout + result.stderr)))


def main() -> int:
    missing = missing_packages()
    if not missing:
        print("lockfile complete")
        return 0
    lock = json.load(open(LOCK))
    packages = lock["packages"]
    versions = {}
    for meta in packages.values():
        for dep, version in (meta.get("optionalDependencies") or {}).items():
            versions[dep] = version
    for name in missing:
        os_name, cpu = platform_of(name)
        if name not in versions or not os_name or not cpu:
            print(f"cannot complete {name}: no parent version or platform in its name", file=sys.stderr)
            return 1
        packages[f"node_modules/{name}"] = {
            "version": versions[name],
            "cpu": [cpu],
            "optional": True,
            "os": [os_name],
        }
        print(f"added {name}@{versions[name]} ({os_name}/{cpu})")
    lock["packages"] = dict(sorted(packages.items(), key=lambda kv: (kv[0] != "", kv[0])))
    with open(LOCK, "w") as handle:
        json.dump(lock, handle, indent=2)
        handle.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
