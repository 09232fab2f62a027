#!/bin/bash
# `make demo` (tests/demo/run-demo), run as a person would, without a
# terminal and with 1 MiB images. Asserts:
#  - it performs README.md's "Getting started": every openssl, umc-agent,
#    umcd, umc-pack and umcctl command of its steps 2 to 7 is printed as a
#    "$ " line, in the README's order, with the same subcommand and options
#    (paths and values may differ), and the local 2.0.0 lands on both ECUs;
#  - it ends with both targets updated from the cloud: exit 0, "Demo done",
#    both agents' active slots identical to the signed 2.1.0's images, the
#    backend's success report, the download and installation progress shown;
#  - it leaves nothing behind: no namespace, no veth interface, no process,
#    no scratch folder;
#  - interrupted (SIGINT to its process group, as Ctrl-C sends it) while it
#    downloads: exit 130 and, again, nothing left behind.
# Needs root (the demo's namespaces), and what the demo needs: nginx,
# python3, openssl, curl, dbus-daemon.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/readme.sh"
ITEST_NAME=demo
DEMO=$ITEST_ROOT/tests/demo/run-demo
[ "$(id -u)" -eq 0 ] || itest_die "must run as root (network namespaces)"
itest_have_netns || itest_die "cannot create network namespaces here"
ITEST_DIR=$(mktemp -d /tmp/umc-itest-demo-XXXXXX)
DEMO_PID=
stop_demo() { # a demo still running when the test dies is stopped as Ctrl-C would
        if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
                kill -INT -- -"$DEMO_PID" 2>/dev/null || true
                wait "$DEMO_PID" 2>/dev/null || true
        fi
        itest_cleanup
}
trap stop_demo EXIT
# Job control: the demo gets a process group of its own, with SIGINT not
# ignored (a shell ignores it in the background jobs of a script).
set -m

# run_demo TAG OUT: the demo in the background, ITEST_TAG TAG; its PID in DEMO_PID.
run_demo() {
        ITEST_TAG=$1 DEMO_IMAGE_MIB=1 DEMO_HOLD=0 BUILD=$BUILD "$DEMO" </dev/null >"$2" 2>&1 &
        DEMO_PID=$!
}
# Nothing of run TAG (its scratch folder named in OUT) is left.
left_behind() { # TAG OUT
        local dir
        dir=$(grep -o '/tmp/umc-demo-[A-Za-z0-9]*' "$2" | head -n 1)
        ip netns list | grep "^umc$1-" || true
        ip -o link | grep -o "u$1[tg][0-9]*" || true
        # No folder named: the checks below would pass on nothing, so say so.
        [ -n "$dir" ] || { echo "(no /tmp/umc-demo-* folder named in $2)"; return; }
        [ ! -e "$dir" ] || echo "$dir"
        pgrep -f "$dir" || true
}

# ---- a whole run ----
tag=${ITEST_TAG}d
out=$ITEST_DIR/demo.out
t0=$SECONDS
run_demo "$tag" "$out"
rc=0; wait "$DEMO_PID" || rc=$?
sed 's/^/  demo: /' "$out" >&2
[ $rc -eq 0 ] && grep -q "^Demo done in .*then run 2.1.0 from the cloud" "$out" &&
        itest_pass "the demo ended with success in $((SECONDS - t0)) s" ||
        itest_fail "the demo: exit $rc"
[ "$(grep -c "version bcm-2.0.0  -> identical\|version tcu-2.0.0  -> identical" "$out")" -eq 2 ] &&
        itest_pass "README's package installed by umcctl install: each active slot identical to its 2.0.0 image" ||
        itest_fail "local install: $(grep -- '->' "$out" | tr -s ' ')"
[ "$(grep -c "version bcm-2.1.0  -> identical\|version tcu-2.1.0  -> identical" "$out")" -eq 2 ] &&
        itest_pass "both targets updated from the cloud: each active slot identical to its 2.1.0 image" ||
        itest_fail "targets: $(grep -- '->' "$out" | tr -s ' ')"
# The README's commands, in order, among the demo's "$ " lines before
# "To try by hand" (what it performed, not what it suggests).
readme_sigs() {
        local line
        readme_commands keys pki start pack install | while IFS= read -r line; do
                cmd_signatures "$line"
        done | grep -E '^(openssl|umc-agent|umcd|umc-pack|umcctl)( |$)'
}
demo_sigs() { # OUT
        local line
        awk '/^To try by hand/ { exit }
             cont { sub(/^ +/, ""); sub(/\\$/, "", l); l = l " " $0; cont = /\\$/
                    if (!cont) print l; next }
             /^    \$ / { l = substr($0, 7); cont = /\\$/; if (!cont) print l }' "$1" |
                join_lines | while IFS= read -r line; do
                cmd_signatures "$line"
        done
}
# in_order WANTED HAVE: each line of WANTED found in HAVE after the one before.
in_order() {
        local want have i=0 w
        mapfile -t want <"$1"
        mapfile -t have <"$2"
        for w in "${want[@]}"; do
                while [ $i -lt ${#have[@]} ] && [ "${have[$i]}" != "$w" ]; do i=$((i + 1)); done
                [ $i -lt ${#have[@]} ] || { echo "$w"; return 1; }
                i=$((i + 1))
        done
}
readme_sigs >"$ITEST_DIR/readme.sigs"
demo_sigs "$out" >"$ITEST_DIR/demo.sigs"
n=$(wc -l <"$ITEST_DIR/readme.sigs")
if [ "$n" -ge 10 ] && missing=$(in_order "$ITEST_DIR/readme.sigs" "$ITEST_DIR/demo.sigs"); then
        itest_pass "the demo printed and ran README's $n commands in its order ($(sort -u "$ITEST_DIR/readme.sigs" | cut -d' ' -f1-2 | sort -u | tr '\n' ',' | sed 's/,$//'))"
else
        itest_fail "README's command '${missing:-?}' (of $n) is not among the demo's \$ lines, in order: $(tr '\n' '|' <"$ITEST_DIR/demo.sigs")"
fi
grep -q "the backend received 1 success report" "$out" &&
        itest_pass "the backend received the success report" || itest_fail "no success report"
grep -q "downloading  \[" "$out" && grep -q "installing   \[" "$out" &&
        grep -q "Update 2.1.0 available" "$out" &&
        itest_pass "the offer and both progress bars were shown" || itest_fail "offer or progress missing"
left=$(left_behind "$tag" "$out")
[ -z "$left" ] && itest_pass "nothing left after the demo" || itest_fail "left behind: $left"

# ---- interrupted while downloading ----
tag=${ITEST_TAG}i
out=$ITEST_DIR/demo-int.out
run_demo "$tag" "$out"
itest_wait_for "the download" grep -q "downloading  \[" "$out"
running=$(for n in tbox gw1 gw2; do ip netns pids "umc$tag-$n"; done | wc -l)
kill -INT -- -"$DEMO_PID"
rc=0; wait "$DEMO_PID" || rc=$?
sed 's/^/  demo-int: /' "$out" >&2
[ $rc -eq 130 ] && grep -q "Interrupted: stopping everything" "$out" &&
        itest_pass "SIGINT while downloading ($running processes in its namespaces): exit 130" ||
        itest_fail "SIGINT: exit $rc"
left=$(left_behind "$tag" "$out")
[ -z "$left" ] && itest_pass "nothing left after the interrupted demo" ||
        itest_fail "left behind: $left"

itest_summary
