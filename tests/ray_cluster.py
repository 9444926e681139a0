"""A two-node Ray cluster on this machine's loopback address, for the sweep's cluster test.

    python tests/ray_cluster.py        # prints the address, then keeps the cluster up until its
                                       # standard input closes, then stops every node it started

Two raylets, one CPU each, started with ``ray.cluster_utils.Cluster`` (Ray's own multi-node test
harness): the nodes are processes of this one, so stopping it stops them, and nothing listens on
or talks to anything but 127.0.0.1 (``ray start --address`` would resolve 127.0.0.1 to the
machine's network address).
"""

from __future__ import annotations

import os
import sys

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only; set before Ray loads
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from ray.cluster_utils import Cluster  # noqa: E402


def main() -> None:
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        print(cluster.address, flush=True)
        sys.stdin.read()  # until the test closes our standard input
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    main()
