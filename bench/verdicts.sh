#!/bin/bash
# Are the verdicts steady on a healthy stack? A fresh `up --demo` (its own state and ports), then
# 20 `volctl lag` checks from 15 s after `up`, then 10 `volctl gate --duration 30s`; each exit code
# printed, and the failing output of any lag check. Issue 24: lag had read "unknown" in 2 of 6.
#     bash bench/verdicts.sh [FOLDER]     (default /tmp/verdicts; the stack is stopped at the end)
set -u
D=${1:-/tmp/verdicts}; rm -rf "$D"; mkdir -p "$D"
cd "$(dirname "$0")/.."
cat > $D/volctl.toml <<TOML
state_dir = "$D/state"
[predict]
port = 18100
worker_port = 18110
[consume]
port = 18200
[kafka]
embedded_port = 18392
[prometheus]
url = "http://127.0.0.1:18090"
[alertmanager]
url = "http://127.0.0.1:18093"
receiver_port = 18095
TOML
export VOLCTL_CONFIG=$D/volctl.toml
V=.venv/bin/volctl
t0=$(date +%s)
$V up --demo > $D/up.log 2>&1; echo "up rc=$? in $(( $(date +%s) - t0 )) s"
sleep 15
for i in $(seq 1 20); do
  $V lag > $D/lag_$i.log 2>&1; rc=$?
  echo "lag $i at $(( $(date +%s) - t0 )) s rc=$rc"
  [ $rc != 0 ] && tail -5 $D/lag_$i.log
  sleep 3
done
for i in $(seq 1 10); do
  $V gate --duration 30s --json > $D/gate_$i.json 2> $D/gate_$i.err; rc=$?
  echo "gate $i rc=$rc $(python3 -c "import json,sys; d=json.load(open('$D/gate_$i.json')); print(d.get('verdict'), d.get('failed', ''), d.get('classes',''))" 2>/dev/null)"
done
$V down > $D/down.log 2>&1
