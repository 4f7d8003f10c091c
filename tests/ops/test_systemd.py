"""The systemd unit as systemd reads it: `systemd-analyze verify` accepts it without a
word, its offline security review stays low, and its environment file gives the drives
the unit's ReadWritePaths allows.

verify checks that ExecStart names an executable. The binary under test is put at the
unit's path, /usr/local/bin/shoal, inside a private mount namespace (unshare), so the
machine's own /usr/local/bin is never touched.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from conftest import REPO_ROOT, run, shoal_bin

UNIT = REPO_ROOT / "deploy/systemd/shoal.service"
ENV_FILE = REPO_ROOT / "deploy/systemd/shoal.env"
# `systemd-analyze security` rates 0 (locked down) to 10 (exposed); "OK" ends at 2.0 ...
EXPOSURE_MAX = 2.0


def analyze(unit: Path, *command: str) -> str:
    """Runs `systemd-analyze COMMAND UNIT` with the binary under test at the unit's path;
    returns everything it printed (stdout and stderr)."""
    script = (
        "set -e; mount -t tmpfs tmpfs /usr/local/bin; "
        f"cp {shlex.quote(str(shoal_bin()))} /usr/local/bin/shoal; "
        f"cd {shlex.quote(str(unit.parent))}; "
        f"systemd-analyze {' '.join(command)} ./{shlex.quote(unit.name)} 2>&1"
    )
    done = run(["unshare", "--mount", "sh", "-c", script], check=False)
    return done.stdout + done.stderr + f"\n(exit {done.returncode})"


def verify_complaints(unit: Path) -> list[str]:
    """Lines of `systemd-analyze verify` about this unit; empty when it is clean."""
    output = analyze(unit, "verify")
    complaints = [line for line in output.splitlines() if unit.name in line]
    if not output.strip().endswith("(exit 0)"):
        complaints.append(output)
    return complaints


def test_unit_passes_systemd_analyze_verify():
    """The unit as shipped draws no warning and no error from systemd-analyze verify."""
    assert verify_complaints(UNIT) == []


def test_verify_check_catches_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt setting and a bad value are reported."""
    broken = tmp_path / "shoal.service"
    text = UNIT.read_text().replace("Restart=on-failure", "Restart=sometimes")
    broken.write_text(text.replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    complaints = "\n".join(verify_complaints(broken))
    assert "restart specifier" in complaints, complaints
    assert "NoNewPrivilege" in complaints, complaints


def test_unit_hardening_exposure_stays_low():
    """systemd's offline security review rates the unit's exposure at most EXPOSURE_MAX."""
    output = analyze(UNIT, "security", "--offline=yes")
    found = re.search(r"Overall exposure level for shoal\.service: ([0-9.]+)", output)
    assert found, output
    assert float(found.group(1)) <= EXPOSURE_MAX, output


def unit_setting(name: str) -> str:
    values = [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith(name + "=")]
    assert len(values) == 1, f"{name}: {values}"
    return values[0]


def test_environment_file_names_drives_the_unit_may_write(tmp_path):
    """Sourced by a shell as systemd's EnvironmentFile is, the example sets at least one
    drive, every one under the unit's only writable path, and options that `shoal
    server --help` knows."""
    shell = shutil.which("bash")
    done = run([shell, "-c", f"set -a; . {shlex.quote(str(ENV_FILE))}; printf '%s\\n' \"$SHOAL_DRIVES\" \"$SHOAL_OPTS\""])
    drives_line, opts_line = done.stdout.splitlines()
    drives = drives_line.split()
    assert len(drives) >= 1
    writable = Path(unit_setting("ReadWritePaths"))
    for drive in drives:
        assert Path(drive).is_relative_to(writable), f"{drive} is not under {writable}"
    help_text = run([str(shoal_bin()), "server", "--help"]).stdout
    for option in (o.split("=", 1)[0] for o in opts_line.split() if o.startswith("--")):
        assert option in help_text, f"SHOAL_OPTS uses {option}, unknown to shoal server"


def test_unit_limits_and_stop_fit_the_server():
    """The unit gives io_uring unlimited locked memory, many open files, no capability,
    restarts on failure, and waits longer than the server's stop (10 s drain + 5 s for
    the other shards) before SIGKILL."""
    assert unit_setting("LimitMEMLOCK") == "infinity"
    assert int(unit_setting("LimitNOFILE")) >= 65536
    assert unit_setting("CapabilityBoundingSet") == ""
    assert unit_setting("AmbientCapabilities") == ""
    assert unit_setting("Restart") == "on-failure"
    assert unit_setting("User") == "shoal"
    stop_s = int(unit_setting("TimeoutStopSec").removesuffix("s"))
    assert stop_s > 15, "TimeoutStopSec must exceed the server's 15 s worst-case stop"
    assert unit_setting("ExecStart").startswith("/usr/local/bin/shoal server ")
