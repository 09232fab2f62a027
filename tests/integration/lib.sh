# shellcheck shell=bash
# Shared helpers for the integration tests: real processes, real sockets in
# network namespaces joined by veth pairs, a private dbus-daemon, real key
# files. Each test sources this, calls itest_setup, and registers cleanup.
#
# Layout of a run (N = a per-run tag):
#   netns umcN-tbox  (umcd)    10.77.K.1 --veth-- 10.77.K.2  netns umcN-gwK (agent K)
#   a private bus at $ITEST_DIR/bus, a package in $ITEST_DIR/pkg

set -euo pipefail

ITEST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ITEST_ROOT/build}
UMCD=$BUILD/umcd
AGENT=$BUILD/umc-agent
UMCCTL=$BUILD/umcctl
MITM=$BUILD/tests/tools/umc-mitm
ITEST_TAG=${ITEST_TAG:-$$}
ITEST_NS_PREFIX="umc${ITEST_TAG}"
ITEST_PIDS=()
ITEST_FAILS=0
ITEST_PASSES=0

itest_log() { printf '%s: %s\n' "${ITEST_NAME:-itest}" "$*" >&2; }
itest_die() { itest_log "FATAL: $*"; exit 1; }

itest_pass() { ITEST_PASSES=$((ITEST_PASSES + 1)); itest_log "ok: $*"; }
itest_fail() { ITEST_FAILS=$((ITEST_FAILS + 1)); itest_log "FAIL: $*"; }
itest_check() { # itest_check "what" command...
        local what=$1; shift
        if "$@"; then itest_pass "$what"; else itest_fail "$what"; fi
}

itest_require() {
        [ "$(id -u)" -eq 0 ] || itest_die "must run as root (network namespaces)"
        for b in "$UMCD" "$AGENT" "$UMCCTL" "$MITM"; do
                [ -x "$b" ] || itest_die "missing $b: run make first"
        done
        command -v ip >/dev/null || itest_die "iproute2 (ip) is missing"
        command -v dbus-daemon >/dev/null || itest_die "dbus-daemon is missing"
        ip netns add "${ITEST_NS_PREFIX}-probe" 2>/dev/null ||
                itest_die "cannot create network namespaces here"
        ip netns del "${ITEST_NS_PREFIX}-probe"
}

itest_cleanup() {
        local pid ns
        for pid in "${ITEST_PIDS[@]:-}"; do
                [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
        done
        sleep 0.2
        for pid in "${ITEST_PIDS[@]:-}"; do
                [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
        done
        # What is left in our namespaces (nginx's workers, a daemon that
        # forked) goes with them: a deleted namespace keeps its processes.
        for ns in $({ command -v ip >/dev/null && ip netns list; } | awk '{print $1}' |
                    grep "^${ITEST_NS_PREFIX}-" || true); do
                for pid in $(ip netns pids "$ns" 2>/dev/null); do
                        kill -9 "$pid" 2>/dev/null || true
                done
                ip netns del "$ns" 2>/dev/null || true
        done
        if [ "${ITEST_KEEP:-0}" != 1 ] && [ -n "${ITEST_DIR:-}" ]; then
                rm -rf "$ITEST_DIR"
        fi
}

# itest_setup NAME N_AGENTS
itest_setup() {
        ITEST_NAME=$1
        local n=$2
        itest_require
        ITEST_DIR=$(mktemp -d "/tmp/umc-itest-$ITEST_NAME-XXXXXX")
        trap itest_cleanup EXIT
        itest_netns "$n"
        itest_start_bus
}

# Can this process create network namespaces (root, iproute2, a kernel and
# container that allow it)? For callers that fall back to loopback.
itest_have_netns() {
        [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null || return 1
        ip netns add "${ITEST_NS_PREFIX}-probe" 2>/dev/null || return 1
        ip netns del "${ITEST_NS_PREFIX}-probe"
}

# itest_netns N: namespace tbox and gw1..gwN, gwK joined to tbox by a veth
# pair 10.77.K.1 (tbox) -- 10.77.K.2 (gwK). itest_cleanup removes them.
itest_netns() {
        local n=$1 k
        ip netns add "${ITEST_NS_PREFIX}-tbox"
        ip -n "${ITEST_NS_PREFIX}-tbox" link set lo up
        for k in $(seq 1 "$n"); do
                local gw="${ITEST_NS_PREFIX}-gw$k"
                ip netns add "$gw"
                ip -n "$gw" link set lo up
                ip link add "u${ITEST_TAG}t$k" netns "${ITEST_NS_PREFIX}-tbox" type veth \
                        peer name "u${ITEST_TAG}g$k" netns "$gw"
                ip -n "${ITEST_NS_PREFIX}-tbox" addr add "10.77.$k.1/24" dev "u${ITEST_TAG}t$k"
                ip -n "$gw" addr add "10.77.$k.2/24" dev "u${ITEST_TAG}g$k"
                ip -n "${ITEST_NS_PREFIX}-tbox" link set "u${ITEST_TAG}t$k" up
                ip -n "$gw" link set "u${ITEST_TAG}g$k" up
        done
}

# Rate-limit the T-Box side of link K (the kernel here has tbf, not netem).
itest_limit_link() { # K RATE (e.g. 200mbit)
        ip netns exec "${ITEST_NS_PREFIX}-tbox" tc qdisc replace dev "u${ITEST_TAG}t$1" root \
                tbf rate "$2" burst 256kbit latency 100ms
}

# NS "host" runs in the caller's own network namespace (loopback setups).
itest_ns() { # itest_ns tbox|gwK|host command...
        local ns=$1; shift
        if [ "$ns" = host ]; then "$@"; else ip netns exec "${ITEST_NS_PREFIX}-$ns" "$@"; fi
}

# Start a long-running process in namespace NS with output appended to LOG;
# its PID (the process itself, not a subshell) lands in ITEST_LAST_PID.
itest_spawn() { # itest_spawn NS|host LOG command...
        local ns=$1 log=$2
        shift 2
        # Simple commands, not itest_ns: a function would run in a subshell.
        if [ "$ns" = host ]; then
                "$@" >>"$log" 2>&1 &
        else
                ip netns exec "${ITEST_NS_PREFIX}-$ns" "$@" >>"$log" 2>&1 &
        fi
        ITEST_LAST_PID=$!
        ITEST_PIDS+=("$ITEST_LAST_PID")
}

# Stop a process itest_spawn started: SIGTERM, reap it, and drop it from
# ITEST_PIDS so that cleanup never signals its PID once reused.
itest_stop() { # itest_stop PID
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
        itest_forget "$1"
}

# Drop a PID that was already reaped (by wait) from ITEST_PIDS.
itest_forget() { # itest_forget PID
        local i
        for i in "${!ITEST_PIDS[@]}"; do
                if [ "${ITEST_PIDS[$i]}" = "$1" ]; then unset "ITEST_PIDS[$i]"; fi
        done
}

itest_start_bus() {
        cat >"$ITEST_DIR/bus.conf" <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$ITEST_DIR/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
CONF
        # Its log (an fd limit it may not raise, ...) is not the test's output.
        dbus-daemon --config-file="$ITEST_DIR/bus.conf" --nofork --nopidfile 2>>"$ITEST_DIR/bus.log" &
        ITEST_PIDS+=($!)
        export DBUS_SESSION_BUS_ADDRESS="unix:path=$ITEST_DIR/bus"
        itest_wait_for "private bus" test -S "$ITEST_DIR/bus"
}

itest_wait_for() { # itest_wait_for WHAT command... (10 s)
        local what=$1 i; shift
        for i in $(seq 1 100); do
                if "$@" 2>/dev/null; then return 0; fi
                sleep 0.1
        done
        itest_die "timed out waiting for $what"
}

# How many lines of LOG match PATTERN (0 when none or no file yet); with
# itest_log_grew, a wait for a line a restarted daemon writes to the log
# its predecessor appended to.
itest_log_count() { # LOG PATTERN
        local n
        n=$(grep -c -- "$2" "$1" 2>/dev/null || true)
        echo "${n:-0}"
}
itest_log_grew() { # LOG PATTERN N
        [ "$(itest_log_count "$1" "$2")" -gt "$3" ]
}

itest_key() { # itest_key NAME -> path of a fresh 0600 key file
        local f="$ITEST_DIR/$1.key"
        (umask 077; openssl rand -hex 32 >"$f")
        echo "$f"
}

itest_image() { # itest_image PATH MIB
        head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

# itest_package DIR NAME target:version:file ...  (files already in DIR)
itest_package() {
        local dir=$1 name=$2 first=1 spec t v f size sha; shift 2
        {
                printf '{"format":1,"name":"%s","images":[' "$name"
                for spec in "$@"; do
                        IFS=: read -r t v f <<<"$spec"
                        size=$(stat -c %s "$dir/$f")
                        sha=$(sha256sum "$dir/$f" | cut -d' ' -f1)
                        [ $first = 1 ] || printf ','
                        first=0
                        printf '{"target":"%s","version":"%s","file":"%s","size":%s,"sha256":"%s"}' \
                                "$t" "$v" "$f" "$size" "$sha"
                done
                printf ']}\n'
        } >"$dir/manifest.json"
}

# umcd on the private bus, in namespace NS (or host), with
# $ITEST_DIR/umcd.conf and its log in $ITEST_DIR/umcd.log; its PID in
# ITEST_UMCD_PID. Dies when umcd exits instead of coming up.
itest_start_umcd() { # NS
        itest_spawn "$1" "$ITEST_DIR/umcd.log" "$UMCD" --config "$ITEST_DIR/umcd.conf" --bus session
        ITEST_UMCD_PID=$ITEST_LAST_PID
        itest_wait_for "umcd on the bus" itest_umcd_up
        kill -0 "$ITEST_UMCD_PID" 2>/dev/null ||
                itest_die "umcd exited at start: $(tail -3 "$ITEST_DIR/umcd.log")"
}
# On the bus, or gone (then itest_start_umcd names why: the wait hides
# what its command prints).
itest_umcd_up() {
        kill -0 "$ITEST_UMCD_PID" 2>/dev/null || return 0
        "$UMCCTL" --bus session status >/dev/null
}
itest_stop_umcd() { itest_stop "$ITEST_UMCD_PID"; }

# The slot store DIR as "active-slot version sha256-of-image", or "empty".
itest_slot_state() { # DIR
        local a
        [ -f "$1/active" ] || { echo empty; return; }
        a=$(tr -d '\n' <"$1/active")
        echo "$a $(cat "$1/$a/version" 2>/dev/null) $(sha256sum <"$1/$a/image" | cut -d' ' -f1)"
}

# umcctl --json install of PACKAGE to TARGET, its output in
# $ITEST_DIR/OUT.json; returns umcctl's exit status (never trips set -e).
itest_install() { # OUT TARGET PACKAGE
        local rc=0
        "$UMCCTL" --bus session --json install --target "$2" "$3" >"$ITEST_DIR/$1.json" 2>&1 || rc=$?
        return $rc
}
# The same for every target PACKAGE names (no --target).
itest_install_all() { # OUT PACKAGE
        "$UMCCTL" --bus session --json install "$2" >"$ITEST_DIR/$1.json" 2>&1
}

# ---- the test cloud: a PKI, nginx (TLS) and tests/cloud/backend.py ----

itest_ossl() { openssl "$@" 2>>"$ITEST_DIR/openssl.log"; }

# A self-signed P-256 root: $ITEST_DIR/NAME.pem and NAME.key.
itest_ca() { # NAME CN
        local f=$ITEST_DIR/$1
        itest_ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$f.key"
        itest_ossl req -x509 -new -key "$f.key" -subj "/CN=$2" -days 3650 -out "$f.pem" \
                -addext "basicConstraints=critical,CA:TRUE" \
                -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# A P-256 NAME.pem/NAME.key issued by ISSUER with exactly the extension lines EXT.
itest_issue() { # NAME CN ISSUER EXT
        local f=$ITEST_DIR/$1 ca=$ITEST_DIR/$3
        itest_ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$f.key"
        itest_ossl req -new -key "$f.key" -subj "/CN=$2" -out "$f.csr"
        printf '%s\n' "$4" >"$f.ext"
        itest_ossl x509 -req -in "$f.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
                -days 365 -extfile "$f.ext" -out "$f.pem"
}

# A leaf (no CA, digitalSignature) issued by ISSUER, with the extension lines EXT.
itest_cert() { # NAME CN ISSUER EXT
        itest_issue "$1" "$2" "$3" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
$4"
}

# An intermediate CA issued by ISSUER.
itest_subca() { # NAME CN ISSUER
        itest_issue "$1" "$2" "$3" "basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always"
}

# The signed-package tests' PKI in $ITEST_DIR: root -> inter -> signer (the
# backend's code-signing chain), rogue -> rogue-signer (a root only a
# compromised T-Box trusts), tbox-anchors.pem (root and rogue together).
itest_signing_pki() {
        itest_ca root "backend root"
        itest_subca inter "backend intermediate" root
        itest_cert signer "backend signer" inter "extendedKeyUsage=codeSigning"
        itest_ca rogue "rogue root"
        itest_cert rogue-signer "rogue signer" rogue "extendedKeyUsage=codeSigning"
        [ -s "$ITEST_DIR/signer.pem" ] && [ -s "$ITEST_DIR/rogue-signer.pem" ] ||
                itest_die "could not build the test PKI (openssl.log)"
        cat "$ITEST_DIR/root.pem" "$ITEST_DIR/rogue.pem" >"$ITEST_DIR/tbox-anchors.pem"
}

# The PKI of a cloud setup in $ITEST_DIR: root (the TLS CA and the trust
# anchor), server (nginx, 127.0.0.1), client (the device, CN DEVICE),
# signer (code signing, for umc-pack), and the device's secret.
itest_pki() { # DEVICE
        itest_ca root "itest root"
        itest_cert server 127.0.0.1 root "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1"
        itest_cert client "$1" root "extendedKeyUsage=clientAuth"
        itest_cert signer "itest signer" root "extendedKeyUsage=codeSigning"
        [ -s "$ITEST_DIR/signer.pem" ] || itest_die "could not build the test PKI (openssl.log)"
        chmod 644 "$ITEST_DIR"/*.pem
        (umask 077; openssl rand -hex 32 >"$ITEST_DIR/secret")
}

# nginx on 127.0.0.1:HTTPS_PORT in namespace NS (TLS 1.2+, client
# certificates of the root CA; /pkg/ serves $ITEST_DIR/www, /slow/ the same
# at SLOW_RATE, /api/ and /img/ go to the backend) and tests/cloud/backend.py
# on 127.0.0.1:BACKEND_PORT for device DEVICE, reports in reports.jsonl.
# Needs itest_pki. itest_cleanup stops both (they live in NS).
itest_start_cloud() { # NS HTTPS_PORT BACKEND_PORT SLOW_RATE DEVICE
        local d=$ITEST_DIR
        ITEST_CLOUD_NS=$1 ITEST_BACKEND_PORT=$3
        mkdir -p "$d/tmp" "$d/www"
        cat >"$d/nginx.conf" <<EOD
daemon on;
pid $d/nginx.pid;
error_log $d/nginx-error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    log_format rng '\$request \$status \$body_bytes_sent range=\$http_range';
    access_log $d/nginx-access.log rng;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$2 ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $d/server.pem;
        ssl_certificate_key $d/server.key;
        ssl_client_certificate $d/root.pem;
        ssl_verify_client on;
        location /pkg/ { alias $d/www/; }
        location /slow/ { alias $d/www/; limit_rate $4; }
        location /api/ { proxy_pass http://127.0.0.1:$3; proxy_http_version 1.1; }
        location /img/ { proxy_pass http://127.0.0.1:$3; proxy_http_version 1.1;
                         proxy_buffering off; }
    }
}
EOD
        itest_ns "$1" nginx -c "$d/nginx.conf" 2>>"$d/nginx-error.log" ||
                itest_die "nginx did not start ($d/nginx-error.log)"
        cat >"$d/backend.json" <<EOD
{"port": $3, "secret_hex": "$(cat "$d/secret")", "device_id": "$5",
 "https_base": "https://127.0.0.1:$2", "http_base": "http://127.0.0.1:$3",
 "pkg_root": "$d/www", "reports": "$d/reports.jsonl"}
EOD
        : >"$d/reports.jsonl"
        itest_spawn "$1" "$d/backend.log" python3 "$ITEST_ROOT/tests/cloud/backend.py" "$d/backend.json"
        itest_wait_for "the backend" itest_cloud_mode normal
}

# Tell the backend how to behave: MODE and pkg=NAME, images=NAME (backend.py).
itest_cloud_mode() { # MODE [KEY=VALUE]...
        local q="mode=$1" kv; shift
        for kv in "$@"; do q="$q&$kv"; done
        itest_ns "$ITEST_CLOUD_NS" curl -sf -o /dev/null \
                "http://127.0.0.1:$ITEST_BACKEND_PORT/_control?$q"
}

itest_summary() {
        itest_log "$ITEST_PASSES passed, $ITEST_FAILS failed"
        echo "$ITEST_NAME: $ITEST_PASSES passed, $ITEST_FAILS failed"
        [ "$ITEST_FAILS" -eq 0 ]
}
