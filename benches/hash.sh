#!/usr/bin/env bash
# Benchmark: CPU time per password hash at Django's default Argon2 parameters (m=102400, t=2,
# p=8): the station's hasher against the baseline of Django's own (argon2-cffi, the reference
# C implementation), same machine, same run, one hash at a time each.
#
#   bash benches/hash.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-20}
cargo bench -q -p station-core --bench hash -- "$COUNT" 2>/dev/null | grep '^{'
PY=$(bash server/setup-venv.sh 2>/dev/null | tail -n 1)
"$PY" - "$COUNT" <<'PYEOF'
import json, resource, sys, time
from argon2 import PasswordHasher
n = int(sys.argv[1])
ph = PasswordHasher(time_cost=2, memory_cost=102400, parallelism=8)  # Django's Argon2PasswordHasher
ph.hash("warm-up")
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, w0 = cpu(), time.monotonic()
for _ in range(n):
    ph.hash("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
c, w = cpu() - c0, time.monotonic() - w0
print(json.dumps({"hasher": "Django (argon2-cffi)", "algorithm": "argon2:m=102400,t=2,p=8", "hashes": n,
                  "cpu_ms_per_hash": round(1000 * c / n, 1), "wall_ms_per_hash": round(1000 * w / n, 1)}))
PYEOF
