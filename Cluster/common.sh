# Shared by the Cluster/ scripts: where things are, and how to start one node.
set -euo pipefail
cluster_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$cluster_dir/.." && pwd)"
data="$cluster_dir/data"
export PATH="$PATH:/opt/swift/usr/bin"
nodes=(1 2 3)
amqp_port() { echo $((5671 + $1)); }   # 5672-5674
peer_port() { echo $((4370 + $1)); }   # 4371-4373
http_port() { echo $((15671 + $1)); }  # 15672-15674
amqps_port() { echo $((5680 + $1)); }  # 5681-5683
https_port() { echo $((15680 + $1)); } # 15681-15683
prometheus_port() { echo $((15691 + $1)); } # 15692-15694
# The cluster's throwaway certificate authority and the nodes' certificate (Cluster/up).
tls="$data/tls"
berth_bin() { echo "$root/.build/release/berth"; }

peer_flags() {
    local flags=()
    for n in "${nodes[@]}"; do flags+=(--peer "$n=127.0.0.1:$(peer_port "$n")"); done
    echo "${flags[@]}"
}

node_pid() {
    local file="$data/node-$1.pid"
    [[ -f "$file" ]] || return 1
    local pid
    pid=$(cat "$file")
    # Only a process we started: it must still be our berth node on this data directory.
    if [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--data-dir $data/node-$1"; then
        echo "$pid"
    else
        return 1
    fi
}

start_node() {
    local n=$1
    if node_pid "$n" >/dev/null; then
        echo "node $n is already running (pid $(node_pid "$n"))"
        return 0
    fi
    mkdir -p "$data/node-$n"
    # BERTH_NODE_FLAGS: more flags for every node (say --no-peer-tls, to measure what TLS costs).
    # shellcheck disable=SC2046,SC2086
    nohup "$(berth_bin)" node --data-dir "$data/node-$n" --node-id "$n" --amqp-port "$(amqp_port "$n")" \
        --http-port "$(http_port "$n")" --tls-port "$(amqps_port "$n")" --https-port "$(https_port "$n")" \
        --prometheus-port "$(prometheus_port "$n")" --tls-certificate "$tls/server.pem" --tls-key "$tls/server.key" \
        $(peer_flags) --cluster-secret-file "$data/cluster-secret" ${BERTH_NODE_FLAGS:-} >>"$data/node-$n.log" 2>&1 &
    echo $! >"$data/node-$n.pid"
}

status_flags() {
    local flags=()
    for n in "${nodes[@]}"; do flags+=(--http "127.0.0.1:$(http_port "$n")"); done
    echo "${flags[@]}"
}
