"""SEMSCALE_THREADS=1 holds BLAS to one thread (as threadpoolctl reports it), process-wide from the first use of semscale's numeric code (`from semscale import measure`)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = ("import json; from semscale import measure; from threadpoolctl import threadpool_info; "
         "print(json.dumps([i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']))")


def blas_threads(setting):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SEMSCALE_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if setting is not None:
        env["SEMSCALE_THREADS"] = setting
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_one_thread_setting_holds_blas_to_one_thread():
    threads = blas_threads("1")
    assert threads and all(n == 1 for n in threads)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a one-core machine has one BLAS thread anyway")
def test_other_settings_leave_blas_alone():
    assert max(blas_threads(None)) > 1
