#!/usr/bin/env python3
"""Differential test: our ksvalidator against pykickstart on mutated files.

Mutates the standard-command part of kickstart/sites/fuzz-seed.ks (deleting
runs of characters, inserting quotes, `#`, section keywords, options), then
asks both parsers whether each file is valid and prints where they disagree.
Not part of CI (it needs pykickstart from PyPI); run by hand:

    pip install pykickstart
    cargo build -p outpost-kickstart
    python3 kickstart/scripts/differential.py target/debug/ksvalidator SEED COUNT [FILE]

FILE replaces the seed file, e.g. fuzz/corpus/kickstart/storage.ks for the
storage commands (then every line is mutated). pykickstart is asked the way
its `ksvalidator` tool asks: its parse warnings (a duplicate mount point,
RAID device, volume group or logical volume) count as errors.

Known, deliberate disagreements (docs/answer-file.md): a trailing backslash,
firewall protocols other than tcp/udp, `network --bootproto=static` without
an address, `clearpart --disklabel` other than gpt/msdos, negative sizes,
one mount point used by two storage commands, an empty `raid --device=` or
`logvol --vgname=`, a repeated autopart/bootloader/clearpart/ignoredisk that
leaves out an option of the earlier line, and the `btrfs` command.
"""
import os
import random
import subprocess
import sys
import tempfile
import warnings

from pykickstart.errors import KickstartParseWarning
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion

warnings.simplefilter("ignore")
# As tools/ksvalidator.py does.
warnings.filterwarnings(action="error", category=KickstartParseWarning)
HERE = os.path.dirname(os.path.abspath(__file__))
PIECES = ['"', "'", "\\", "#", "%end", "%post", "%packages", "--", "=", " ", "\t", "\n",
          "--size=", "part ", "autopart", "user ", "-", ",", "--grow", "--fstype=xfs",
          "network ", "--ondisk=", "--bootproto=", "timezone", "reqpart", "%include",
          "--noformat", "--useexisting", "--level=", "--device=", "--percent=",
          "--thin", "--thinpool", "--poolname=", "--cachesize=", "--cachepvs=",
          "--resize", "--name=", "--vgname=", "--drives=", "--only-use=", "raid.01",
          "pv.01", "/", "logvol ", "raid ", "volgroup ", "--fstype=tmpfs"]


def pykickstart_ok(text):
    parser = KickstartParser(makeVersion(), followIncludes=False, missingIncludeIsFatal=False)
    try:
        parser.readKickstartFromString(text)
        return True, ""
    except Exception as e:  # pylint: disable=broad-except
        return False, (str(e).strip().splitlines() or [""])[-1]


def main():
    ours = sys.argv[1]
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    if len(sys.argv) > 4:
        seed = open(sys.argv[4]).read()
    else:
        seed = open(os.path.join(HERE, "..", "sites", "fuzz-seed.ks")).read()
        seed = seed[: seed.index("%addon org_outpost")]
    stats = {"agree": 0, "only_ours_rejects": 0, "only_pykickstart_rejects": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(count):
            s = list(seed)
            for _ in range(1 + rng.randrange(3)):
                at = rng.randrange(len(s) + 1)
                if rng.randrange(2) == 0 and at < len(s):
                    del s[at: at + 1 + rng.randrange(8)]
                else:
                    s[at:at] = list(rng.choice(PIECES))
            text = "".join(s)
            path = os.path.join(tmp, f"{i}.ks")
            with open(path, "w") as f:
                f.write(text)
            py_ok, py_msg = pykickstart_ok(text)
            r = subprocess.run([ours, path], capture_output=True, text=True, check=False)
            our_ok = r.returncode == 0
            if py_ok == our_ok:
                stats["agree"] += 1
                continue
            key = "only_pykickstart_rejects" if our_ok else "only_ours_rejects"
            stats[key] += 1
            detail = py_msg if our_ok else (r.stderr.strip().splitlines() or [""])[0]
            print(f"{key}: {detail}")
    print(stats)


if __name__ == "__main__":
    main()
