"""Debian packages a test needs, installed on demand where that is allowed.

``require_command(binary, package)`` gives the path of ``binary``. When it is missing and installing is
allowed (CI=true, or running as root where apt-get exists) it installs the Debian ``package`` with
apt-get first. When it is still missing the test fails under CI=true and is skipped elsewhere, with the
reason either way.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

APT_TIMEOUT = 900  # seconds for `apt-get update` and for `apt-get install`


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _may_install() -> tuple[bool, str]:
    """Whether this process may install Debian packages, and why not when it may not."""
    if shutil.which("apt-get") is None:
        return False, "apt-get is not available"
    if in_ci():
        return True, ""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return True, ""
    return False, "installing needs root or CI=true"


def _apt_install(package: str) -> str | None:
    """Install ``package``; None on success, else what went wrong."""
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = (
        [*sudo, "apt-get", "update", "-qq"],
        [*sudo, "apt-get", "install", "-y", "-qq", package],
    )
    for step in steps:
        try:
            done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"`{' '.join(step)}` did not finish: {error}"
        if done.returncode != 0:
            output = (done.stderr or done.stdout).strip()[-2000:]
            return f"`{' '.join(step)}` exited with {done.returncode}: {output}"
    return None


def require_command(binary: str, package: str) -> str:
    """The path of ``binary``, installing Debian's ``package`` first when it is missing and allowed."""
    found = shutil.which(binary)
    if found:
        return found
    allowed, why_not = _may_install()
    problem = why_not
    if allowed:
        problem = _apt_install(package) or f"the package {package} was installed but has no {binary}"
        found = shutil.which(binary)
        if found:
            return found
    message = f"{binary} is missing (Debian package {package}): {problem}"
    if in_ci():
        pytest.fail(message + " (CI=true: this test must not skip)")
    pytest.skip(message)
