#!/bin/sh
# bench/gpu_check.sh: fractional GPUs and placement on a machine with a GPU.
#
# Runs 4 trials of resources = { cpu = 1, gpu = 0.5 } whose trainer (/usr/bin/python3) uses
# PyTorch when it is installed, and checks:
#   1. at most 2 trials ran at once on a card (start/end instants in the journal), and some
#      card did hold 2 at once (the packing is real, not one at a time);
#   2. each trial saw exactly its card: torch.cuda.device_count() == 1 and the device's
#      name/UUID are those `tunelua resources --json` lists for the CUDA_VISIBLE_DEVICES it got
#      (without torch: the same through the CUDA runtime with ctypes, and it says so);
#   3. each trial's Cpus_allowed_list lies within its card's locality (the PUs of its NUMA
#      node, from `tunelua resources --json`).
# Prints one line per check and a verdict; exit 0 when all pass (or when there is no GPU: it
# says SKIP), 1 otherwise. With TUNELUA_FAKE_GPUS=N it runs checks 1 and 3 on fake cards (no
# card to look at: check 2 is skipped), which is how it is tested on machines without a GPU.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${TUNELUA_BIN:-$root/tunelua}
py=/usr/bin/python3
[ -x "$bin" ] || { echo "gpu_check: FAIL: no $bin (run make first)"; exit 1; }
[ -x "$py" ] || { echo "gpu_check: FAIL: no $py"; exit 1; }
work=$(mktemp -d /tmp/tunelua-gpucheck.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM

"$bin" resources --json > "$work/resources.json" || { echo "gpu_check: FAIL: tunelua resources"; exit 1; }
count=$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1]))["gpus"]; print(d["count"]); print(d["source"], file=sys.stderr)' "$work/resources.json" 2>"$work/source")
if [ "$count" = 0 ]; then
  echo "gpu_check: SKIP: no GPU here ($(cat "$work/source"))"
  exit 0
fi
if [ -n "${TUNELUA_FAKE_GPUS:-}" ]; then
  how="fake"
elif "$py" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  how="torch $("$py" -c 'import torch; print(torch.__version__)')"
else
  how="ctypes"
  echo "gpu_check: note: PyTorch is not installed for $py (or sees no GPU); the trainer asks the CUDA runtime through ctypes instead"
fi
echo "gpu_check: $count GPU(s): $(cat "$work/source"); trainer uses $how"

cat > "$work/trainer.py" <<'EOF'
# Writes what this trial sees (affinity, CUDA_VISIBLE_DEVICES, its devices), keeps its card
# busy for a few seconds so trials overlap, then reports once.
import ctypes, json, os, sys, time
import tunelua as tune

how = sys.argv[1]
seen = {"cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "omp": os.environ.get("OMP_NUM_THREADS")}
for line in open("/proc/self/status"):
    if line.startswith("Cpus_allowed_list:"):
        seen["cpus"] = line.split(":", 1)[1].strip()
t_end = time.time() + 4
if how.startswith("torch"):
    import torch
    seen["count"] = torch.cuda.device_count()
    if seen["count"] > 0:
        p = torch.cuda.get_device_properties(0)
        seen["name"] = p.name
        seen["uuid"] = str(getattr(p, "uuid", "")) or None
        x = torch.randn(2048, 2048, device="cuda")
        while time.time() < t_end:
            x = (x @ x).clamp_(-1, 1)
        torch.cuda.synchronize()
elif how == "ctypes":
    for name in ("libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"):
        try:
            rt = ctypes.CDLL(name)
            break
        except OSError:
            rt = None
    n = ctypes.c_int(0)
    if rt is not None and rt.cudaGetDeviceCount(ctypes.byref(n)) == 0:
        seen["count"] = n.value
        buf = ctypes.create_string_buffer(16384)
        get = getattr(rt, "cudaGetDeviceProperties_v2", None) or rt.cudaGetDeviceProperties
        if n.value > 0 and get(buf, 0) == 0:
            raw = buf.raw
            seen["name"] = raw[:256].split(b"\0", 1)[0].decode()
            u = raw[256:272].hex()
            seen["uuid"] = "%s-%s-%s-%s-%s" % (u[:8], u[8:12], u[12:16], u[16:20], u[20:])
    else:
        seen["count"] = 0
    time.sleep(max(0, t_end - time.time()))
else:
    time.sleep(max(0, t_end - time.time()))
with open(os.path.join(os.environ["TUNELUA_TRIAL_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
tune.report(done=1)
EOF

cat > "$work/exp.lua" <<EOF
local tune = require "tunelua"
return tune.experiment {
  name = "gpu-check",
  trainer = { cmd = { "$py", "$work/trainer.py", "$how" }, resources = { cpu = 1, gpu = 0.5 } },
  config = { i = tune.grid_search { 1, 2, 3, 4 } },
  searcher = tune.searchers.grid {},
}
EOF

"$bin" "$work/exp.lua" --dir "$work/run" --quiet > "$work/out.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  echo "gpu_check: FAIL: the experiment exited $rc"
  tail -20 "$work/out.log"
  for f in "$work"/run/trials/*/stderr.log; do [ -s "$f" ] && { echo "== $f"; tail -5 "$f"; }; done
  exit 1
fi

"$py" - "$work" "$how" <<'EOF'
import json, os, sys
work, how = sys.argv[1], sys.argv[2]
res = json.load(open(os.path.join(work, "resources.json")))
cards = {d["id"]: d for d in res["gpus"]["devices"]}
ok = True

def check(passed, what):
    global ok
    ok = ok and passed
    print("gpu_check: %s: %s" % ("ok  " if passed else "FAIL", what))

def cpulist(s):
    out = set()
    for part in (s or "").split(","):
        if part:
            a, _, b = part.partition("-")
            out.update(range(int(a), int(b or a) + 1))
    return out

runs, open_ = [], {}
for line in open(os.path.join(work, "run", "journal.jsonl")):
    ev = json.loads(line)
    if ev["ev"] == "started":
        open_[ev["trial"]] = (ev["t"], ev.get("resources", {}).get("cuda"))
    elif ev["ev"] == "status" and ev.get("status") != "RUNNING" and ev["trial"] in open_:
        t0, card = open_.pop(ev["trial"])
        runs.append((ev["trial"], t0, ev["t"], card))

def most_at_once(rs):
    return max([sum(1 for _, a, b, _ in rs if a <= t0 < b) for _, t0, _, _ in rs] or [0])

check(len(runs) == 4, "4 trials ran (%d)" % len(runs))
per_card = {c: most_at_once([r for r in runs if r[3] == c]) for c in set(r[3] for r in runs)}
check(all(n <= 2 for n in per_card.values()),
      "at most 2 at once per card: " + ", ".join("card %s: %d" % kv for kv in sorted(per_card.items())))
check(max(per_card.values() or [0]) == 2, "two trials did share a card at once")
for trial, _, _, card in sorted(runs):
    seen = json.load(open(os.path.join(work, "run", "trials", trial, "seen.json")))
    dev = cards.get(seen["cvd"])
    check(dev is not None and seen["cvd"] == card,
          "trial %s got CUDA_VISIBLE_DEVICES=%s, one card of the inventory" % (trial, seen["cvd"]))
    if how == "fake":
        print("gpu_check: skip: trial %s: fake cards, nothing to look at" % trial)
    elif dev is not None:
        uuid = (seen.get("uuid") or "").lower().replace("gpu-", "")
        want = (dev.get("uuid") or "").lower().replace("gpu-", "")
        check(seen.get("count") == 1 and seen.get("name") == dev["name"] and (not want or uuid == want),
              "trial %s sees exactly its card: %s device(s), %s %s" % (trial, seen.get("count"), seen.get("name"), seen.get("uuid")))
    near = dev and dev.get("cpuset")
    if near:
        check(cpulist(seen["cpus"]) <= cpulist(near),
              "trial %s bound to PUs %s, within its card's locality %s (NUMA %s)" % (trial, seen["cpus"], near, dev.get("numa")))
    else:
        print("gpu_check: skip: trial %s: its card's locality is unknown (PUs %s)" % (trial, seen["cpus"]))
print("gpu_check: %s" % ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
EOF
