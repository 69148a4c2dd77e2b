#!/usr/bin/env bash
# A two-node Ray cluster on one Linux machine, for trying the cluster path end to end (root only):
# each node has its own network namespace (veth to a bridge) and its own mount of the shared
# cache: an NFS export where the kernel has an NFS client, else the delayed-attributes FUSE
# passthrough (tests/runner/delayed_attributes_fs.py), one mount per node, as two NFS clients.
#
#   docs/experiments/local_cluster.sh up   BASE            # nodes cx-a (head, 10.231.0.1) and cx-b (10.231.0.2)
#   docs/experiments/local_cluster.sh run  BASE -- cxrbench evaluate ... --executor ray --address 10.231.0.1:6379 --cache BASE/cache
#   docs/experiments/local_cluster.sh kill BASE cx-b       # kill -9 every process of node cx-b (a node lost)
#   docs/experiments/local_cluster.sh down BASE
#
# BASE is a folder for the shared data (BASE/shared, mounted at BASE/cache on every node) and the
# nodes' logs. CPUS_PER_NODE (default 1) and NFS_SERVER (HOST:/EXPORT, optional) are read from the
# environment. `run` executes a command on the head node (Ray drivers must run on a cluster node).
set -euo pipefail

cmd=${1:?usage: local_cluster.sh up|run|kill|down BASE ...}
base=$(realpath -m "${2:?BASE folder}")
shift 2
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python}
nodes=(cx-a cx-b)
declare -A ip=([cx-a]=10.231.0.1 [cx-b]=10.231.0.2)
head=${ip[cx-a]}
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0

mount_pid() { cat "$base/$1.mount.pid"; }
in_node() {  # run a command in a node's network and mount namespaces
    local node=$1; shift
    nsenter --net="/var/run/netns/$node" --mount="/proc/$(mount_pid "$node")/ns/mnt" "$@"
}

node_up() {
    local node=$1
    ip netns add "$node"
    ip link add "veth-$node" type veth peer name eth0 netns "$node"
    ip link set "veth-$node" master cx-br up
    ip netns exec "$node" ip addr add "${ip[$node]}/24" dev eth0
    ip netns exec "$node" ip link set eth0 up
    ip netns exec "$node" ip link set lo up
    # the node's own mount namespace: its mount of the shared cache, seen by its processes only
    ip netns exec "$node" unshare --mount --propagation private sh -c '
        base=$1 node=$2 here=$3 python=$4
        if [ -n "${NFS_SERVER:-}" ]; then
            mount -t nfs -o lookupcache=positive "$NFS_SERVER" "$base/cache"
        else
            "$python" "$here/../../tests/runner/delayed_attributes_fs.py" "$base/shared" "$base/cache" --delay 3 \
                > "$base/$node.fuse.log" 2>&1 &
        fi
        echo $$ > "$base/$node.mount.pid"
        exec sleep infinity' sh "$base" "$node" "$here" "$python" < /dev/null > /dev/null 2>&1 &
    for _ in $(seq 100); do
        [ -s "$base/$node.mount.pid" ] && in_node "$node" mountpoint -q "$base/cache" && return 0
        sleep 0.2
    done
    echo "node $node: the shared cache did not mount (see $base/$node.fuse.log)" >&2
    return 1
}

case $cmd in
up)
    mkdir -p "$base/shared" "$base/cache"
    ip link add cx-br type bridge
    ip addr add 10.231.0.254/24 dev cx-br
    ip link set cx-br up
    for node in "${nodes[@]}"; do node_up "$node"; done
    in_node cx-a ray start --head --node-ip-address "$head" --port 6379 --num-cpus "${CPUS_PER_NODE:-1}" \
        --include-dashboard=false --temp-dir "$base/ray-cx-a" > "$base/cx-a.ray.log" 2>&1
    in_node cx-b ray start --address "$head:6379" --node-ip-address "${ip[cx-b]}" \
        --num-cpus "${CPUS_PER_NODE:-1}" --temp-dir "$base/ray-cx-b" > "$base/cx-b.ray.log" 2>&1
    in_node cx-a ray status --address "$head:6379" | sed -n '/Resources/,$p'
    ;;
run)
    [ "${1:-}" = "--" ] && shift
    in_node cx-a "$@"
    ;;
kill)
    node=${1:?node name}
    pids=$(ip netns pids "$node" | tr '\n' ' ')
    echo "kill -9 $node: $pids"
    kill -9 $pids 2>/dev/null || true
    ;;
down)
    for node in "${nodes[@]}"; do
        pids=$(ip netns pids "$node" 2>/dev/null | tr '\n' ' ' || true)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
        ip netns del "$node" 2>/dev/null || true
        ip link del "veth-$node" 2>/dev/null || true
    done
    ip link del cx-br 2>/dev/null || true
    rm -f "$base"/*.mount.pid
    ;;
*)
    echo "unknown command $cmd (up, run, kill, down)" >&2
    exit 2
    ;;
esac
