#!/bin/bash
# umc as a T-Box runs it: installed with `make install`, its users made by
# systemd-sysusers, umcd and umc-agent started by systemctl with the units'
# real hardening, the policy file on the real system bus, and umcctl run by
# three users. In a guest whose PID 1 is systemd (tests/vm/run --systemd):
# the host's / is read-only there, under a tmpfs overlay, so the install
# and the users stay in the guest.
#
#  1. install as root, as a member of umc-operators (both succeed) and as a
#     user in no group (refused by the bus, the slot untouched);
#  2. `systemctl reload umcd` rereads the configuration in the same process;
#  3. SIGSEGV of umcd mid-transfer: Restart=on-failure starts it again and
#     the transfer resumes from the agent's checkpoint (not from byte 0);
#  4. a umcd that stops pinging (SIGSTOP) is killed by the watchdog and
#     restarted (a drop-in shortens WatchdogSec= to keep the test short);
#  5. `systemctl stop umcd` mid-transfer leaves the agent's active slot as
#     it was;
#  6. a signed update from the cloud (nginx with TLS and client
#     certificates, the test backend) asked for by the operator with
#     `umcctl update`: umcd under its unit verifies the package and fetches
#     it, the agent under its unit verifies the signed manifest with its own
#     trust anchor before it activates the image; the stranger may not ask;
#  7. README.md's "Getting started" as written: its keys, signing CA, files
#     and package commands, two agents as instances of umc-agent@.service
#     beside umcd, hardened as the plain unit, and umcctl inspect and install
#     put each image in its ECU's slot store under /var/lib/umc-agent-NAME;
# and the daemons run without core dumps (LimitCORE=0, non-dumpable).
HERE=$(dirname "$(readlink -f "$0")")
if [ -z "${UMC_VM:-}" ]; then
        # The guest installs from the build as it is: bring it up to date here,
        # where make may still install build dependencies.
        make -s -C "$HERE/../.." BUILD="${BUILD:-build}" all >&2 ||
                { echo "test-systemd: make all failed" >&2; exit 1; }
        exec "$HERE/../vm/run" --systemd --timeout 900 "$HERE/test-systemd.sh" "$@"
fi
if [ "$UMC_VM" != systemd ] || [ "$(cat /proc/1/comm)" != systemd ]; then
        echo "test-systemd: needs systemd as PID 1 (tests/vm/run --systemd); UMC_VM=$UMC_VM" >&2
        exit 1
fi
. "$HERE/lib.sh"
. "$HERE/readme.sh"
ITEST_NAME=systemd
export SYSTEMD_PAGER= SYSTEMD_COLORS=0

PKGS=/var/lib/umc/packages # umcd's PackageDirectory= default
SLOTS=/var/lib/umc-agent/slots
STATE=/var/lib/umc
OP=umcop       # a member of umc-operators
STRANGER=umcx  # in no group of umc

# wait_until SEC WHAT command...: poll every 0.2 s; false after SEC seconds.
wait_until() {
        local end=$((SECONDS + $1)) what=$2
        shift 2
        while ! "$@" 2>/dev/null; do
                if [ "$SECONDS" -ge "$end" ]; then
                        itest_log "timed out after ${end}s waiting for $what"
                        return 1
                fi
                sleep 0.2
        done
}

journal() { journalctl --no-pager -o cat -u "$1"; }
main_pid() { systemctl show -P MainPID "$1"; }
restarts() { systemctl show -P NRestarts "$1"; }
active_version() {
        local a
        a=$(tr -d '\n' <"$SLOTS/active" 2>/dev/null) || return 0
        cat "$SLOTS/$a/version" 2>/dev/null
}
has_version() { [ "$(active_version)" = "$1" ]; }
checkpoint_past_zero() { # PACKAGE: umcd's resume record of it says offset > 0
        grep -qx "package=$1" "$STATE/resume-ecu1" && grep -q '^offset=[1-9]' "$STATE/resume-ecu1"
}
uid_of() { awk '/^Uid:/ { print $2 }' "/proc/$1/status"; }

dump_logs() {
        [ "$ITEST_FAILS" -eq 0 ] && return 0
        itest_log "journal of umcd and umc-agent (last 60 lines each):"
        journal umcd | tail -n 60 >&2
        journal umc-agent | tail -n 60 >&2
        journalctl --no-pager -o cat -u 'umc-agent@*' | tail -n 60 >&2
}
trap dump_logs EXIT

# ---- install, users, keys, configuration ----

# -o all: the host side has just built it; here make would only stat the
# whole tree again over 9p.
make -s -C "$ITEST_ROOT" -o all BUILD="$BUILD" DESTDIR=/ install >/dev/null ||
        itest_die "make install failed"
itest_log "make install done at ${SECONDS} s"
itest_check "make install puts umcd and umc-agent on root's PATH" \
        test "$(command -v umcd)" = /usr/sbin/umcd -a "$(command -v umc-agent)" = /usr/sbin/umc-agent
itest_check "make install puts the interface XML under /usr/share/dbus-1/interfaces" \
        cmp -s "$ITEST_ROOT/docs/io.umc.Manager1.xml" /usr/share/dbus-1/interfaces/io.umc.Manager1.xml
systemd-sysusers || itest_die "systemd-sysusers failed"
getent group umc-operators >/dev/null || itest_die "systemd-sysusers made no group umc-operators"
systemctl daemon-reload
# The bus may still wait for its first client (socket activation): start it,
# then make it read the new policy file.
systemctl start dbus.service && systemctl reload dbus.service ||
        itest_die "the system bus did not (re)load its policy"
useradd --no-create-home --shell /usr/sbin/nologin --groups umc-operators "$OP"
useradd --no-create-home --shell /usr/sbin/nologin "$STRANGER"
itest_log "users and bus policy done at ${SECONDS} s"

install -d -m 0755 /etc/umc/keys
openssl rand -hex 32 >/etc/umc/keys/ecu1.key
install -o umc-agent -g umc-agent -m 0400 /etc/umc/keys/ecu1.key /etc/umc/agent.key
chown umc:umc /etc/umc/keys/ecu1.key
chmod 0400 /etc/umc/keys/ecu1.key

cat >/etc/umc/umc-agent.conf <<'CONF'
[Agent]
EcuId=0x10
HardwareId=HW-SVC-1
KeyFile=/etc/umc/agent.key
RequireSignature=no
Listen=127.0.0.1:4500
LogLevel=debug
[EthernetAcl]
Rule=allow proto=tcp src=127.0.0.1/32 dst=127.0.0.1/32 dport=4500
CONF
# Paced to about 1 Mbit/s, so a 1 MiB image takes seconds: time enough to
# interrupt it after its first checkpoint.
cat >/etc/umc/umcd.conf <<'CONF'
[Package]
RequireSignature=no
[Daemon]
LogLevel=debug
[Load]
LinkRateMbit=4
CeilingPercent=25
[EthernetAcl]
Rule=allow proto=tcp src=127.0.0.1/32 dst=127.0.0.1/32 dport=4500
[Target ecu1]
EcuId=0x10
HardwareId=HW-SVC-1
KeyFile=/etc/umc/keys/ecu1.key
Address=127.0.0.1:4500
CONF
# As the unit's user: the key files must belong to the user that reads them.
itest_check "umcd --check-config accepts the configuration" \
        setpriv --reuid=umc --regid=umc --clear-groups umcd --check-config >&2

package() { # NAME VERSION KIB -> the package's path
        local d="$PKGS/$1"
        mkdir -p "$d"
        head -c "$(($3 * 1024))" /dev/urandom >"$d/ecu1.bin"
        itest_package "$d" "$1" "ecu1:$2:ecu1.bin"
        chmod -R a+rX "$PKGS"
        echo "$d"
}

itest_log "keys and configuration done at ${SECONDS} s"
systemctl start umc-agent.service umcd.service || itest_die "systemctl start failed"
itest_check "umc-agent and umcd are active under systemd" systemctl is-active --quiet umc-agent umcd
for u in umcd umc-agent; do
        pid=$(main_pid $u)
        itest_check "$u runs as its own user" test "$(uid_of "$pid")" = "$(id -u "${u/umcd/umc}")"
        itest_check "$u has LimitCORE=0" grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits"
        # The files of a non-dumpable process's /proc entry belong to root
        # (proc(5); the directory itself keeps the process's owner).
        itest_check "$u is not dumpable" test "$(stat -c %U "/proc/$pid/environ")" = root
done

itest_log "set up in ${SECONDS} s since the job started"

# ---- 1. who may install ----

ctl_as() { # USER OUT umcctl-args...
        local user=$1 out=$2 rc=0
        shift 2
        if [ "$user" = root ]; then
                umcctl --json "$@" >"$ITEST_DIR/$out" 2>&1 || rc=$?
        else
                setpriv --reuid="$user" --regid="$user" --init-groups --reset-env \
                        umcctl --json "$@" >"$ITEST_DIR/$out" 2>&1 || rc=$?
        fi
        return $rc
}
ctl_as_groupless() { # USER OUT umcctl-args...
        local user=$1 out=$2 rc=0
        shift 2
        setpriv --reuid="$user" --regid="$user" --clear-groups --reset-env \
                umcctl --json "$@" >"$ITEST_DIR/$out" 2>&1 || rc=$?
        return $rc
}
ITEST_DIR=$(mktemp -d /var/tmp/umc-itest-systemd-XXXXXX)

P1=$(package p1 1.0.1 64)
rc=0; ctl_as root root.json install --target ecu1 "$P1" || rc=$?
itest_check "root installs (exit $rc)" test "$rc" -eq 0
itest_check "root's image is active on the agent" cmp -s "$P1/ecu1.bin" "$SLOTS/$(cat "$SLOTS/active")/image"

P2=$(package p2 1.0.2 64)
rc=0; ctl_as "$OP" op.json install --target ecu1 "$P2" || rc=$?
itest_check "a member of umc-operators installs (exit $rc)" test "$rc" -eq 0
itest_check "the operator's image is active on the agent" has_version 1.0.2
rc=0; ctl_as "$OP" op-inspect.json inspect "$P2" || rc=$?
itest_check "the operator inspects a package below PackageDirectory= (exit $rc)" test "$rc" -eq 0
itest_check "inspect gives the operator the manifest hash" grep -q '"manifest_hash":"[0-9a-f]\{64\}"' "$ITEST_DIR/op-inspect.json"

# The same operator from a process that holds no supplementary group. umcd
# goes by the user database, so it never turns the operator away; the bus
# judges <policy group=...> first, by its own rule (dbus-daemon 1.14 takes
# the groups the process held when it connected, SO_PEERGROUPS, and refuses
# it; one that asks the user database lets it through). Either is logged.
P2B=$(package p2b 1.0.4 64)
rc=0; ctl_as_groupless "$OP" op-nogroups.json install --target ecu1 "$P2B" || rc=$?
itest_check "umcd does not turn away an operator whose process holds no group" \
        bash -c "! grep -q 'operator group' '$ITEST_DIR/op-nogroups.json'"
bus="dbus-daemon $(dbus-daemon --version | sed -n '1s/.* //p')"
if [ "$rc" -eq 0 ]; then
        itest_log "$bus let the operator without process groups through (user database)"
        itest_check "the operator without process groups installed" has_version 1.0.4
else
        itest_log "$bus refused the operator without process groups (exit $rc): $(head -c 160 "$ITEST_DIR/op-nogroups.json")"
        itest_check "it was the bus that refused the operator without process groups" \
                grep -q 'Rejected send message.*member="Install"' "$ITEST_DIR/op-nogroups.json"
fi

P3=$(package p3 1.0.3 64)
before=$(itest_slot_state "$SLOTS")
rc=0; ctl_as "$STRANGER" stranger.json install --target ecu1 "$P3" || rc=$?
itest_check "a user in no group is refused (exit $rc, 4 = refused)" test "$rc" -eq 4
# dbus-daemon's words: the policy file refused it before umcd saw it.
itest_check "the bus's policy refused the stranger" grep -q 'Rejected send message.*member="Install"' "$ITEST_DIR/stranger.json"
itest_check "after the refusal the agent's slots are as they were" test "$(itest_slot_state "$SLOTS")" = "$before"
rc=0; ctl_as "$STRANGER" stranger-inspect.json inspect "$P2" || rc=$?
itest_check "a user in no group may not inspect (exit $rc, 4 = refused)" test "$rc" -eq 4
rc=0; ctl_as "$STRANGER" stranger-read.json status || rc=$?
itest_check "the user in no group may still read the status (exit $rc)" test "$rc" -eq 0

# ---- 2. reload ----

pid=$(main_pid umcd)
sed -i 's/^LogLevel=debug/LogLevel=info/' /etc/umc/umcd.conf
itest_check "systemctl reload umcd succeeds" systemctl reload umcd.service
itest_check "umcd logged the reload" wait_until 10 "the reload" bash -c "journalctl --no-pager -o cat -u umcd | grep -q 'Reloaded /etc/umc/umcd.conf'"
itest_check "the reload kept the process" test "$(main_pid umcd)" = "$pid"
sed -i 's/^LogLevel=info/LogLevel=debug/' /etc/umc/umcd.conf
systemctl reload umcd.service

# ---- 3. SIGSEGV mid-transfer: restarted, resumed ----

P4=$(package p4 2.0.0 1024)
n0=$(restarts umcd)
pid=$(main_pid umcd)
ctl_as root crash.json install --target ecu1 "$P4" &
ctlpid=$!
wait_until 30 "a checkpoint past byte 0" checkpoint_past_zero "$P4" || itest_die "no checkpoint: $(cat "$ITEST_DIR/crash.json")"
kill -SEGV "$pid"
wait "$ctlpid" 2>/dev/null || true
itest_check "after SIGSEGV systemd restarted umcd" wait_until 30 "a new umcd" \
        bash -c "[ \"\$(systemctl show -P NRestarts umcd)\" -gt $n0 ] && systemctl is-active --quiet umcd"
itest_check "the crashed delivery completes by itself" wait_until 90 "version 2.0.0" has_version 2.0.0
itest_check "the image is byte-identical after the crash" cmp -s "$P4/ecu1.bin" "$SLOTS/$(cat "$SLOTS/active")/image"
itest_check "the agent resumed from a checkpoint, not from byte 0" \
        bash -c "journalctl --no-pager -o cat -u umc-agent | grep -q 'receiving version 2.0.0, .* from byte [1-9]'"
itest_check "systemd saw the crash as a signal" bash -c "journalctl --no-pager -o cat -u umcd | grep -q 'status=11/SEGV'"

# ---- 4. the watchdog ----

mkdir -p /run/systemd/system/umcd.service.d
printf '[Service]\nWatchdogSec=6s\n' >/run/systemd/system/umcd.service.d/50-test-watchdog.conf
systemctl daemon-reload
systemctl restart umcd.service
n0=$(restarts umcd)
pid=$(main_pid umcd)
sleep 8 # alive past one period: the loop pings
itest_check "a running umcd keeps the watchdog happy" test "$(main_pid umcd)" = "$pid"
kill -STOP "$pid"
itest_check "a stopped umcd is restarted by the watchdog" wait_until 40 "the watchdog restart" \
        bash -c "[ \"\$(systemctl show -P NRestarts umcd)\" -gt $n0 ] && systemctl is-active --quiet umcd"
itest_check "systemd says it was the watchdog" bash -c "journalctl --no-pager -o cat -u umcd | grep -q 'Watchdog timeout'"
rm -rf /run/systemd/system/umcd.service.d
systemctl daemon-reload
systemctl restart umcd.service

# ---- 5. systemctl stop mid-transfer ----

P5=$(package p5 3.0.0 1024)
before=$(itest_slot_state "$SLOTS")
ctl_as root stop.json install --target ecu1 "$P5" &
ctlpid=$!
wait_until 30 "a checkpoint past byte 0" checkpoint_past_zero "$P5" || itest_die "no checkpoint: $(cat "$ITEST_DIR/stop.json")"
itest_check "systemctl stop umcd mid-transfer succeeds" systemctl stop umcd.service
wait "$ctlpid" 2>/dev/null || true
sleep 1
itest_check "umcd is stopped" bash -c "! systemctl is-active --quiet umcd"
itest_check "the agent's active slot is untouched by the stop" test "$(itest_slot_state "$SLOTS")" = "$before"
itest_check "the agent keeps running" systemctl is-active --quiet umc-agent

# ---- 6. a signed update from the cloud, under both units, asked by the operator ----

cd "$ITEST_DIR" || itest_die "no $ITEST_DIR"
itest_pki dev-1
itest_start_cloud host 8443 8080 200k dev-1
head -c 300000 /dev/urandom >ecu1-5.bin
cat >desc.ini <<EOD
[Package]
Name=svc cloud 5.0.0
Version=5.0.0
SecurityVersion=7
ValidDays=30
VehicleModel=SVC
HardwareRevision=R1

[Image ecu1]
EcuId=0x10
HardwareId=HW-SVC-1
Version=5.0.0
File=$ITEST_DIR/ecu1-5.bin
EOD
umc-pack create --description desc.ini --cert signer.pem --key signer.key \
        --output www/p6 >pack.log 2>&1 || itest_die "umc-pack create failed: $(cat pack.log)"
chmod -R a+rX www
chmod 0711 "$ITEST_DIR" # nginx's workers (www-data) serve www/ from in here
itest_cloud_mode normal pkg=p6

# The files the units read, owned and protected as a T-Box provisions them.
install -d -m 0755 /etc/umc/cloud
install -m 0644 root.pem /etc/umc/trust-anchor.pem
install -m 0644 root.pem client.pem /etc/umc/cloud/
install -o umc -g umc -m 0400 client.key /etc/umc/cloud/client.key
install -o umc -g umc -m 0400 secret /etc/umc/cloud/secret
sed -i 's|^RequireSignature=no$|TrustAnchor=/etc/umc/trust-anchor.pem|' /etc/umc/umc-agent.conf
sed -i 's|^RequireSignature=no$|TrustAnchor=/etc/umc/trust-anchor.pem|' /etc/umc/umcd.conf
cat >>/etc/umc/umcd.conf <<'CONF'
[Device]
VehicleModel=SVC
HardwareRevision=R1
[Cloud]
BaseUrl=https://127.0.0.1:8443/api
DeviceId=dev-1
SecretFile=/etc/umc/cloud/secret
Company=acme
Product=tbox
CaFile=/etc/umc/cloud/root.pem
ClientCert=/etc/umc/cloud/client.pem
ClientKey=/etc/umc/cloud/client.key
CONF
itest_check "umcd --check-config accepts [Package], [Device] and [Cloud]" \
        setpriv --reuid=umc --regid=umc --clear-groups umcd --check-config >&2
systemctl restart umc-agent.service umcd.service || itest_die "systemctl restart failed"
itest_check "both units are active with signatures required" systemctl is-active --quiet umc-agent umcd

rc=0; ctl_as "$STRANGER" stranger-check.json check || rc=$?
itest_check "a user in no group may not ask for updates (exit $rc, 4 = refused)" test "$rc" -eq 4
itest_check "the bus refused the stranger's CheckForUpdates" \
        grep -q 'Rejected send message.*member="CheckForUpdates"' "$ITEST_DIR/stranger-check.json"
rc=0; ctl_as "$OP" op-update.json update --yes || rc=$?
itest_check "the operator's umcctl update installs the cloud's signed package (exit $rc)" test "$rc" -eq 0
itest_check "the cloud's image is active on the agent" has_version 5.0.0
itest_check "the image is byte-identical" cmp -s ecu1-5.bin "$SLOTS/$(cat "$SLOTS/active")/image"
itest_check "the agent verified the signed manifest and recorded security version 7" \
        test "$(cat "$SLOTS/security_version" 2>/dev/null)" = 7
itest_check "umcd recorded security version 7 for ecu1" grep -qx "ecu1=7" "$STATE/security-versions"
itest_check "the backend got umcd's success report" \
        wait_until 20 "the report" grep -q '"result":"success"' reports.jsonl
itest_check "the image came through nginx, which verified the device's certificate" \
        grep -q "GET /pkg/p6/[^ ]* HTTP/[0-9.]* 20[06] " nginx-access.log
cd / || true

# ---- 7. README.md's Getting started, as written ----
# Its commands run as they stand; they replace the files above.
systemctl stop umcd.service umc-agent.service
readme_sh() { # STEP
        (cd / && bash -euo pipefail -c "$(readme_block "step=$1")") >"$ITEST_DIR/readme-$1.log" 2>&1
}
itest_check "README step 2 (keys) runs as written" readme_sh keys
itest_check "README step 3 (signing CA) runs as written" readme_sh pki
for f in $(readme_files); do
        mkdir -p "$(dirname "$f")"
        readme_block "file=$f" >"$f"
done
itest_check "README step 5 (check as the units' users, systemctl enable --now) runs as written" readme_sh start
itest_check "umc-agent@bcm, umc-agent@tcu and umcd are active" \
        systemctl is-active --quiet umc-agent@bcm umc-agent@tcu umcd
for u in umc-agent@bcm umc-agent@tcu; do
        pid=$(main_pid $u)
        itest_check "$u runs as umc-agent without core dumps" \
                test "$(uid_of "$pid")" = "$(id -u umc-agent)" -a \
                "$(awk '/^Max core file size/ { print $5 }' "/proc/$pid/limits")" = 0
done
itest_check "README step 6 (the package) runs as written" readme_sh pack
readme_install() { # its output in readme-install.log
        local line out hash=
        while IFS= read -r line; do
                case $line in
                umcctl\ inspect\ *)
                        out=$(eval "$line") || break
                        hash=$(grep -o '[0-9a-f]\{64\}' <<<"$out" | head -n 1) ;;
                *) eval "${line/<hash>/$hash}" || break ;;
                esac
        done < <(readme_commands install) >"$ITEST_DIR/readme-install.log" 2>&1
        # read ends the loop with an empty line; a failed command breaks it.
        [ -z "$line" ] && [ -n "$hash" ]
}
itest_check "README step 7 (umcctl inspect, install, status) runs as written" readme_install
for t in bcm tcu; do
        s=/var/lib/umc-agent-$t/slots
        itest_check "$t's image is active in $s" \
                cmp -s "/root/umc-bench/$t.bin" "$s/$(cat "$s/active" 2>/dev/null)/image"
done
[ "$ITEST_FAILS" -eq 0 ] || tail -n 20 "$ITEST_DIR"/readme-*.log >&2

itest_log "done in ${SECONDS} s since the job started"
itest_summary
