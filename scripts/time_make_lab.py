"""Mesure le temps de ``make lab`` jusqu'à ce que le serveur réponde, puis l'arrête.

Usage (depuis la racine du dépôt) : ``python3 scripts/time_make_lab.py [--timeout 900]``

Lance ``make lab`` en arrière-plan sur 127.0.0.1 (port libre, jeton aléatoire, sans
navigateur), interroge ``/api/status`` jusqu'à la première réponse, vérifie au passage que
l'interface de nbgrader est coupée pour les élèves (pas de ``/formgrader``, extension
JupyterLab ``@jupyter/nbgrader`` désactivée), affiche les secondes écoulées, puis arrête le
serveur (même en cas d'erreur). Bibliothèque standard uniquement.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (localhost)
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--timeout", type=float, default=900.0, help="secondes avant abandon")
    args = ap.parse_args()
    port, token = free_port(), secrets.token_hex(16)
    lab_args = (f"--no-browser --ip=127.0.0.1 --IdentityProvider.token={token} "
                "--ServerApp.open_browser=False")
    (ROOT / "tests" / "artifacts").mkdir(parents=True, exist_ok=True)
    log = open(ROOT / "tests" / "artifacts" / "make_lab.log", "w")  # noqa: SIM115
    start = time.perf_counter()
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={port}", f"LAB_ARGS={lab_args}"],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                print(f"ÉCHEC : make lab s'est arrêté (code {proc.returncode}) ; voir {log.name}")
                return 1
            if time.perf_counter() - start > args.timeout:
                print(f"ÉCHEC : pas de réponse après {args.timeout:.0f} s ; voir {log.name}")
                return 1
            try:
                code, body = http_get(f"{base}/api/status?token={token}")
                if code == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        print(f"make lab : le serveur répond après {elapsed:.1f} s ({json.loads(body)})")
        code, _ = http_get(f"{base}/formgrader?token={token}")
        print(f"  /formgrader (nbgrader) -> HTTP {code} (attendu : 404)")
        _, page = http_get(f"{base}/lab?token={token}", timeout=10)
        hidden = '"@jupyter/nbgrader"' in page.split('"disabledExtensions"', 1)[-1].split("]", 1)[0]
        print(f"  @jupyter/nbgrader désactivée dans JupyterLab : {hidden}")
        return 0 if code == 404 and hidden else 1
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()


if __name__ == "__main__":
    sys.exit(main())
