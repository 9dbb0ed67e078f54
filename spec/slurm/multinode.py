"""A trial on two nodes (resources.nodes = 2): one task per node. Rank 1 has no connection
to the engine (TUNELUA_CONNECT unset, TUNELUA_RANK=1) and reads the config from
TUNELUA_PARAMS through the client's by-hand mode; it writes what it got into the trial's
directory. Rank 0 waits for that and reports both ranks' nodes."""
import json
import os
import time

import tunelua as tune

rank = int(os.environ.get("TUNELUA_RANK", "0"))
node = os.environ.get("SLURMD_NODENAME", "?")
out = os.path.join(os.environ["TUNELUA_TRIAL_DIR"], "rank-1.json")
if rank != 0:
    with open(out + ".tmp", "w") as fh:
        json.dump({"node": node, "params": tune.params(),
                   "connected": bool(os.environ.get("TUNELUA_CONNECT"))}, fh)
    os.rename(out + ".tmp", out)
else:
    cfg = tune.params()
    for _ in range(200):
        if os.path.exists(out):
            break
        time.sleep(0.05)
    with open(out) as fh:
        peer = json.load(fh)
    tune.report(node=node, lr=cfg["lr"], peer_node=peer["node"], peer_lr=peer["params"]["lr"],
                peer_connected=peer["connected"])
