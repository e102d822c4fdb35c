#!/usr/bin/env python3
"""Printer differential: our ksflatten against pykickstart's canonical form.

Runs option-heavy inputs through both printers and shows the differences
(header and pykickstart's invented default `bootloader` line ignored). Not
part of CI (needs pykickstart from PyPI); run by hand:

    cargo build -p outpost-kickstart
    python3 kickstart/scripts/printer_differential.py target/debug/ksflatten

Expected: one difference, `keyboard us --vckeymap=de` (documented in
docs/answer-file.md).
"""
import os, subprocess, sys, tempfile, warnings
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion
warnings.simplefilter("ignore")
cases = [
 "clearpart --all --initlabel --drives=sda --list=sda1 --disklabel=gpt --cdl\n",
 "firewall --enabled --trust=eth0 --trust=eth1 --port=22:tcp --service=ssh --remove-service=cockpit\n",
 "bootloader --append=x --location=mbr --password=p --driveorder=sda --timeout=5 --default=d --iscrypted --boot-drive=sda --leavebootorder --extlinux --nombr\n",
 "bootloader --timeout=5 --disabled\n",
 "user --name=a --gecos=G --lock --gid=4 --uid=3 --groups=x --homedir=/h --shell=/s --password=p --iscrypted\n",
 "%packages\n@b\n@a\nz\ny\n-@d\n-@c\n-x\n-w\n@^env\n%end\n",
 "keyboard --switch=grp:alt,grp:ctrl --xlayouts=us --vckeymap=us\n",
 "keyboard us --vckeymap=de\n",
 "timezone --ntpservers=a,b UTC\n",
 "rootpw --iscrypted --lock abc\n",
 "rootpw --lock\n",
 "network --device=eth0 --bootproto=dhcp --ipv6=auto --ipv6gateway=fe80::1 --noipv6 --essid=e --wpakey=k --teamslaves=a --interfacename=i --bridgeslaves=b --bindto=mac --ipv4-dns-search=x --activate\n",
 "part / --size=1 --label=L --fsprofile=p --encrypted --passphrase=x --cipher=c --luks-version=luks2 --pbkdf=argon2id --pbkdf-memory=1 --pbkdf-time=2 --hibernation --onbiosdisk=80\n",
 "autopart --encrypted --passphrase=a --escrowcert=e --backuppassphrase --cipher=c --luks-version=l --pbkdf=p --pbkdf-memory=1 --pbkdf-iterations=3 --hw-passphrase=h --noswap\n",
 "raid / --device=md0 --level=1 --fstype=xfs --label=L --fsoptions=o --spares=2 --chunksize=64 raid.1 raid.2\n",
 "volgroup vg --pesize=4 --reserved-space=5 pv.1\n",
 "logvol / --vgname=v --name=n --size=5 --maxsize=9 --grow --fstype=xfs --label=L --fsoptions=o --thinpool --chunksize=1 --metadatasize=2 --profile=p\n",
 "services --enabled=a\n",
 "services --disabled=a\n",
 "sshkey --username=u k\n",
 "firstboot --enable\n",
 "%post --interpreter=/bin/bash --nochroot --erroronfail --log=/x\ny\n%end\n",
 "reboot --kexec --eject\n",
 "lang en_US\n",
 "ignoredisk --drives=sda,sdb\n",
 "eula --agreed\n",
 "zerombr\n",
 "timezone --utc Europe/Berlin --nontp\n",
 "firewall --use-system-defaults --ssh\n", "firewall --disabled --port=22\n", "firewall --enabled --ftp --http --smtp --ssh --service=a,b\n",
 "part pv.1 --size=1\nvolgroup vg pv.1 --useexisting --noformat\n", "raid /home --useexisting --device=md1 --noformat\n",
 "logvol /x --useexisting --resize --size=9 --name=a --vgname=b\n", "part / --onpart=/dev/sda1 --resize --size=9\n",
 "network --device=eth0 --onboot=yes --activate --noipv4 --nameserver=a,b\n", "user --name=a --password=\"x#y\"\n",
 "timezone UTC --ntpservers=a,b\n", "%packages --ignoremissing --default\n%end\n",
 "lang en_US --addsupport=a\nkeyboard --xlayouts=us,cz --switch=grp:alt\n",
]
def py_flat(text):
    p = KickstartParser(makeVersion()); p.readKickstartFromString(text); return str(p.handler)
mism = 0
tmp = tempfile.mkdtemp()
path = os.path.join(tmp, "c.ks")
for c in cases:
    open(path, "w").write(c)
    try: py = py_flat(c)
    except Exception as e: print("PYERR", repr(c), e); continue
    ours = subprocess.run([sys.argv[1], path], capture_output=True, text=True)
    if ours.returncode: print("OURERR", repr(c), ours.stderr); continue
    strip = lambda t: [l for l in t.splitlines() if l and not l.startswith("# Generated") and not l.startswith("#version") and not l.startswith("bootloader --location=none") and l != "# System bootloader configuration" or (l.startswith("bootloader") and "bootloader" in c)]
    a, b = strip(py), strip(ours.stdout)
    if a != b:
        mism += 1
        print("DIFF", repr(c)); print("   py:  ", a); print("   ours:", b)
print("mismatches", mism, "of", len(cases))
