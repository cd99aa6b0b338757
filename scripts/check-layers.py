#!/usr/bin/env python3
"""Checks that every `#include "..."` between the repo's folders runs down the layers.

The floors, bottom first (docs/DESIGN.md §2). A file may include its own folder and any
folder on a lower floor; an include that runs up, sideways (another folder on the same
floor) or into a folder that is no layer fails the check. tests/, fuzz/, bench/ and
spec-conformance/ sit outside the layers and may include anything. An include whose first
component is no folder of the repo (a library's header, criu's generated rpc.pb-c.h) is not
ours and is not checked; one without a folder ("output.hpp") is the includer's own folder.

  scripts/check-layers.py            check the repo this script lives in
  scripts/check-layers.py --root D   check the tree at D
  scripts/check-layers.py --list     print the floors

Exit status: 0 clean, 1 when an include breaks the order (each printed as
"file:line: includes "x" (floor) from floor: runs up|sideways|into a folder that is no layer").
"""

import argparse
import os
import re
import sys

# Bottom first: (floor name, its folders).
FLOORS = [
    ("ground", ["base"]),
    ("kernel features", ["cgroups", "seccomp", "apparmor", "selinux"]),
    ("container lifecycle", ["libcontainer"]),
    ("image store, Garden", ["image", "garden"]),
    ("commands", ["cmd"]),
]
# Outside the layers: may include anything; nothing layered may include them.
FREE = ["tests", "fuzz", "bench", "spec-conformance"]
SOURCE_EXT = (".c", ".cc", ".cpp", ".h", ".hpp")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')

FLOOR_OF = {folder: i for i, (_, folders) in enumerate(FLOORS) for folder in folders}


def list_floors():
    for i in reversed(range(len(FLOORS))):
        name, folders = FLOORS[i]
        print(f"{i}  {name:20s} {'/ '.join(folders)}/")
    print(f"-  {'outside the layers':20s} {'/ '.join(FREE)}/ (may include anything)")


def sources(root, folder):
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
        dirnames.sort()
        for f in sorted(filenames):
            if f.endswith(SOURCE_EXT):
                yield os.path.join(dirpath, f)


def verdict(from_folder, to_folder):
    """None when from_folder may include to_folder, else why not."""
    if to_folder == from_folder:
        return None
    if to_folder not in FLOOR_OF:
        return "into a folder that is no layer"
    mine, theirs = FLOOR_OF[from_folder], FLOOR_OF[to_folder]
    if theirs < mine:
        return None
    return "runs up" if theirs > mine else "sideways"


def check(root):
    repo_folders = {d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))}
    problems = []
    for folder in FLOOR_OF:
        for path in sources(root, folder):
            rel = os.path.relpath(path, root)
            with open(path, encoding="utf-8", errors="replace") as f:
                for n, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    target = m.group(1)
                    first = target.split("/", 1)[0]
                    if "/" not in target or first not in repo_folders:
                        continue  # the includer's own folder, or not ours
                    why = verdict(folder, first)
                    if why:
                        where = FLOORS[FLOOR_OF[first]][0] if first in FLOOR_OF else "-"
                        problems.append(
                            f'{rel}:{n}: includes "{target}" ({where}) from '
                            f"{FLOORS[FLOOR_OF[folder]][0]}: {why}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="the tree to check (default: this repo)")
    ap.add_argument("--list", action="store_true", help="print the floors and exit")
    args = ap.parse_args()
    if args.list:
        list_floors()
        return 0
    problems = check(args.root)
    for p in problems:
        print(p)
    if problems:
        print(f"check-layers: {len(problems)} include(s) break the layer order "
              "(docs/DESIGN.md §2; scripts/check-layers.py --list)", file=sys.stderr)
        return 1
    print("check-layers: every include runs down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
