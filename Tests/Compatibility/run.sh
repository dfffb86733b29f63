#!/usr/bin/env bash
# Real RabbitMQ clients against real Berth nodes: the pika checks and durability across a
# clean restart (SIGTERM) and a crash (SIGKILL) on one node, then the client scenario tests
# (pytest: pika, aio-pika, kombu, py-amqp, rabbitpy) against the leader and a follower of a
# three-node cluster, and across a leader's death.
#
#   Tests/Compatibility/run.sh            # from anywhere; COMPAT_MESSAGES=N sets the restart check's size
#
# Installs the clients (requirements.txt) into a virtual environment of its own
# (.build/compat-venv), builds `berth` (debug), starts one node on a free loopback port with
# a fresh data directory, runs every check of pika_compat.py, then for each of SIGTERM and
# SIGKILL: writes durable messages, stops the node that way, restarts it on the same data
# directory and verifies them. Then pytest runs the scenario tests, which start and stop
# their own cluster. Kills only the nodes it started (by PID), removes its temporary files,
# and prints one result line last: `N passed, M failed`.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
suite="$here/pika_compat.py"
venv="$root/.build/compat-venv"
python="$venv/bin/python"
messages="${COMPAT_MESSAGES:-500}"
export PATH="$PATH:/opt/swift/usr/bin"

work=""
node_pid=""
suite_pid=""
port=""
passed=0
failed=0

say() { printf '%s\n' "$*"; }
pass() { passed=$((passed + 1)); say "ok $1"; }
flunk() { failed=$((failed + 1)); say "FAIL $1: $2"; }

# --- the node ----------------------------------------------------------------------------

node_alive() {
    # A child that has exited stays a zombie until waited for; kill -0 still succeeds then.
    [[ -n "$node_pid" && -e "/proc/$node_pid" ]] && ! grep -qE '^[0-9]+ \(.*\) Z' "/proc/$node_pid/stat" 2>/dev/null
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_node: starts the node on $port over $work/data; waits (at most 30 s) until the port
# accepts connections. Returns non-zero, with the log's tail, if it does not.
start_node() {
    "$berth" node --data-dir "$work/data" --amqp-host 127.0.0.1 --amqp-port "$port" >>"$work/node.log" 2>&1 &
    node_pid=$!
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! node_alive; then
            { wait "$node_pid"; } 2>/dev/null
            say "# the node (pid $node_pid) exited with status $? before accepting connections"
            node_pid=""
            tail -n 20 "$work/node.log" | sed 's/^/#   node: /'
            return 1
        fi
        if port_open "$port"; then
            return 0
        fi
        sleep 0.1
    done
    say "# the node (pid $node_pid) did not accept connections on 127.0.0.1:$port within 30s"
    tail -n 20 "$work/node.log" | sed 's/^/#   node: /'
    return 1
}

# stop_node SIGNAL SECONDS: sends SIGNAL to the node and waits (bounded) until it has
# exited; sets $node_status. Returns non-zero if it is still running at the deadline
# (it is then killed with SIGKILL).
node_status=""
stop_node() {
    local signal=$1 seconds=$2
    node_status=""
    [[ -n "$node_pid" ]] || return 0
    kill "-$signal" "$node_pid" 2>/dev/null
    local deadline=$((SECONDS + seconds))
    while node_alive && ((SECONDS < deadline)); do sleep 0.05; done
    if node_alive; then
        kill -KILL "$node_pid" 2>/dev/null
        { wait "$node_pid"; } 2>/dev/null
        node_status=$?
        node_pid=""
        return 1
    fi
    { wait "$node_pid"; } 2>/dev/null
    node_status=$?
    node_pid=""
    return 0
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM HUP
    if [[ -n "$suite_pid" ]]; then
        kill -TERM "$suite_pid" 2>/dev/null
        wait "$suite_pid" 2>/dev/null
    fi
    if [[ -n "$node_pid" ]] && node_alive; then
        stop_node TERM 10 || true
    fi
    [[ -n "$work" ]] && rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'say "# interrupted"; exit 130' INT TERM
trap 'exit 129' HUP

# --- the suite ---------------------------------------------------------------------------

# run_suite LABEL ARGS...: runs pika_compat.py, prints its lines when it ends, adds its counts to the
# totals. Its own closing line is shown as "LABEL: N passed, M failed".
run_suite() {
    local label=$1
    shift
    local out="$work/$label.out"
    # In the background so that an interrupt's trap runs at once (bash defers traps until
    # a foreground command ends); `wait` returns on a trapped signal.
    timeout -k 5 120 "$python" -u "$suite" --port "$port" "$@" >"$out" 2>&1 &
    suite_pid=$!
    wait "$suite_pid"
    local status=$?
    suite_pid=""
    sed -E "s/^([0-9]+ passed, [0-9]+ failed)\$/$label: \\1/" "$out"
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [[ -z "$line" ]]; then
        flunk "$label" "pika_compat.py ended with status $status and no result line"
        return 1
    fi
    local p f
    p=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$line")
    f=$(sed -E 's/.* ([0-9]+) failed$/\1/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
    if ((f == 0 && status != 0)); then
        flunk "$label" "pika_compat.py exited with status $status"
    fi
    ((f == 0 && status == 0))
}

# durability SIGNAL TAG: write phase, stop with SIGNAL, restart, verify phase.
durability() {
    local signal=$1 tag=$2
    if ! node_alive; then
        flunk "restart_after_sig${signal,,}" "no node running before the write phase"
        return
    fi
    run_suite "write-$tag" --phase write --tag "$tag" --count "$messages"
    if [[ "$signal" == TERM ]]; then
        if stop_node TERM 20; then
            if [[ "$node_status" == 0 ]]; then
                pass node_stops_cleanly_on_sigterm
            else
                flunk node_stops_cleanly_on_sigterm "exited with status $node_status"
            fi
        else
            flunk node_stops_cleanly_on_sigterm "still running 20s after SIGTERM (killed)"
        fi
    else
        stop_node KILL 10 2>/dev/null || true  # no "Killed" job notice from bash
        say "# node killed with SIGKILL (status $node_status)"
    fi
    if start_node; then
        pass "node_restarts_after_sig${signal,,}"
        run_suite "verify-$tag" --phase verify --tag "$tag" --count "$messages"
    else
        flunk "node_restarts_after_sig${signal,,}" "the node did not come back on the same data directory"
        flunk "verify-$tag" "not run: no node"
    fi
}

# install_clients: the client libraries of requirements.txt, in $venv (made once; Debian's
# python3 needs python3-venv for it, installed when missing).
install_clients() {
    if [[ -x "$python" ]] && cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
        return 0
    fi
    say "# installing the clients into $venv"
    if ! python3 -c 'import ensurepip' 2>/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    rm -rf "$venv"
    if python3 -m venv "$venv" && "$python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"; then
        cp "$here/requirements.txt" "$venv/requirements.txt"
        return 0
    fi
    flunk setup "the clients of requirements.txt could not be installed"
    return 1
}

# scenarios: the pytest scenario tests; adds pytest's counts to the totals.
scenarios() {
    local out="$work/scenarios.out"
    # pytest in the background for the same reason as run_suite.
    timeout -k 10 900 "$python" -m pytest -q -p no:cacheprovider "$here" --berth "$berth" >"$out" 2>&1 &
    suite_pid=$!
    wait "$suite_pid"
    local status=$?
    suite_pid=""
    cat "$out"
    # pytest -q ends with "3 failed, 120 passed, 2 skipped in 31.2s" (any order).
    local line p f e
    line=$(grep -E '^(=+ )?[0-9]+ .*(passed|failed|error).* in [0-9.]+s' "$out" | tail -n 1)
    if [[ -z "$line" ]]; then
        flunk scenarios "pytest ended with status $status and no summary line"
        return 1
    fi
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    e=$(grep -oE '[0-9]+ errors?' <<<"$line" | grep -oE '[0-9]+' || echo 0)
    say "scenarios: $p passed, $((f + e)) failed"
    passed=$((passed + p))
    failed=$((failed + f + e))
    if ((f + e == 0 && status != 0)); then
        flunk scenarios "pytest exited with status $status"
    fi
}

main() {
    cd "$root"
    work=$(mktemp -d "${TMPDIR:-/tmp}/berth-compat.XXXXXX")

    install_clients || return 1

    say "# building berth (debug)"
    if ! swift build --product berth >"$work/build.log" 2>&1; then
        cat "$work/build.log"
        flunk build "swift build --product berth failed"
        return 1
    fi
    berth="$(swift build --product berth --show-bin-path)/berth"

    local attempt
    for attempt in 1 2 3; do
        port=$(free_port)
        if start_node; then break; fi
        port=""
    done
    if [[ -z "$port" ]]; then
        flunk node_starts "no node came up in 3 attempts"
        return 1
    fi
    say "# node pid $node_pid on 127.0.0.1:$port, data $work/data"

    run_suite checks
    if node_alive; then
        pass node_survives_the_checks
    else
        { wait "$node_pid"; } 2>/dev/null
        flunk node_survives_the_checks "the node exited with status $? during the checks"
        node_pid=""
        tail -n 20 "$work/node.log" | sed 's/^/#   node: /'
        start_node || { flunk node_restart "could not start it again"; return 1; }
    fi

    durability TERM term
    durability KILL kill

    if node_alive; then
        if stop_node TERM 20 && [[ "$node_status" == 0 ]]; then
            pass node_stops_after_crash_recovery
        else
            flunk node_stops_after_crash_recovery "SIGTERM: status ${node_status:-none} (killed if still running)"
        fi
    fi
    if ((failed)); then
        say "# node log (last 20 lines):"
        tail -n 20 "$work/node.log" | sed 's/^/#   /'
    fi

    scenarios
}

main
status=$?
((failed)) && status=1
((passed + failed == 0)) && status=1
say "$passed passed, $failed failed"
exit "$status"
