#!/bin/bash
# The cloud client (umc-fetch, which drives src/lib/cloud/cloud.c on its own
# sd-event loop) against real servers on 127.0.0.1: nginx from Debian
# (TLS 1.2+ with a test CA made by the openssl CLI, client-certificate
# verification, static files with range requests, limit_rate for a slow
# server), vsftpd (explicit FTPS, and plain FTP), and the Python test
# backend tests/cloud/backend.py behind nginx (authent/check/report,
# misbehaviour on command). Asserts: a normal run fetches, verifies and
# reports; no client certificate is refused by the server; a dropped and
# a stalled connection resume with a Range request (bytes fetched < 2x the
# size); a killed umc-fetch resumes from its partial file; a wrong hash,
# an oversized image and an untrusted signer each end with an error naming
# the cause, nothing of the package left and a report at the backend; a
# replayed or expired ticket and a wrong token are refused by the backend
# and named; a report that cannot be sent is queued and sent once the
# backend is back; FTPS, plain FTP and plain HTTP only with the option.
# Needs root (nginx binds, vsftpd), nginx-light, vsftpd, python3, openssl, curl.
HERE=$(dirname "$(readlink -f "$0")")
. "$HERE/lib.sh"

ITEST_NAME=cloud
FETCH=$BUILD/tests/tools/umc-fetch
PACK=$BUILD/umc-pack
for b in "$FETCH" "$PACK"; do [ -x "$b" ] || itest_die "missing $b: run make tools"; done
for c in nginx vsftpd python3 openssl curl; do
        command -v "$c" >/dev/null || PATH=$PATH:/usr/sbin command -v "$c" >/dev/null ||
                itest_die "$c is missing (make deps installs nginx-light, vsftpd, python3, curl)"
done
export PATH=$PATH:/usr/sbin
[ "$(id -u)" -eq 0 ] || itest_die "must run as root"
ITEST_DIR=$(mktemp -d /tmp/umc-itest-cloud-XXXXXX)
chmod 755 "$ITEST_DIR"
D=$ITEST_DIR
NGINX_PID_FILE=$D/nginx.pid
stop_servers() {
        [ -s "$NGINX_PID_FILE" ] && kill "$(cat "$NGINX_PID_FILE")" 2>/dev/null || true
        itest_cleanup
}
trap stop_servers EXIT
cd "$D"

# Ports from the run's tag, so parallel runs do not collide.
P0=$((20000 + (ITEST_TAG % 2000) * 16))
HTTPS_PORT=$P0 BACKEND_PORT=$((P0 + 1)) FTP_PORT=$((P0 + 2)) FTP_PLAIN_PORT=$((P0 + 3))
PASV_MIN=$((P0 + 4)) PASV_MAX=$((P0 + 9)) PASV2_MIN=$((P0 + 10)) PASV2_MAX=$((P0 + 15))

# ---- a PKI: root -> TLS server, TLS client, code signer; another root -> stranger ----
itest_ca root "itest cloud root"
itest_cert server "127.0.0.1" root "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1"
itest_cert client "dev-1" root "extendedKeyUsage=clientAuth"
itest_cert signer "itest signer" root "extendedKeyUsage=codeSigning"
itest_ca other "other root"
itest_cert stranger "stranger" other "extendedKeyUsage=codeSigning"
[ -s server.pem ] && [ -s client.pem ] && [ -s stranger.pem ] ||
        itest_die "could not build the test PKI (openssl.log)"
chmod 644 ./*.pem
openssl rand -hex 32 >secret && chmod 600 secret
openssl rand -hex 32 >wrong-secret && chmod 600 wrong-secret

# ---- packages: good, signed by a stranger, and two image folders that lie ----
mkdir -p www empty tmp
head -c 200000 /dev/urandom >bcm.bin
head -c 1500000 /dev/urandom >big.bin
TOTAL=1700000
cat >desc.ini <<EOD
[Package]
Name=itest cloud
Version=1.0.0
SecurityVersion=5
ValidDays=30
VehicleModel=X1
HardwareRevision=B2

[Image bcm]
EcuId=0x10
HardwareId=BCM-HW-3
Version=1.2.3
File=bcm.bin

[Image big]
EcuId=0x20
HardwareId=BIG-HW-1
Version=4.0
File=big.bin
EOD
"$PACK" create --description desc.ini --cert signer.pem --key signer.key --output www/good \
        >>pack.log 2>&1 || itest_die "umc-pack create failed (pack.log)"
"$PACK" create --description desc.ini --cert stranger.pem --key stranger.key \
        --output www/untrusted >>pack.log 2>&1 || itest_die "umc-pack create failed (pack.log)"
mkdir www/bad www/over
cp www/good/* www/bad/ && printf 'X' | dd of=www/bad/big.img bs=1 seek=777777 conv=notrunc 2>/dev/null
cp www/good/* www/over/ && head -c 4096 /dev/urandom >>www/over/bcm.img
chmod -R a+rX www

# ---- servers ----
cat >nginx.conf <<EOD
daemon on;
pid $D/nginx.pid;
error_log $D/nginx-error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    log_format rng '\$request \$status \$body_bytes_sent range=\$http_range';
    access_log $D/nginx-access.log rng;
    client_body_temp_path $D/tmp/body;
    proxy_temp_path $D/tmp/proxy;
    fastcgi_temp_path $D/tmp/fastcgi;
    uwsgi_temp_path $D/tmp/uwsgi;
    scgi_temp_path $D/tmp/scgi;
    server {
        listen 127.0.0.1:$HTTPS_PORT ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate $D/server.pem;
        ssl_certificate_key $D/server.key;
        ssl_client_certificate $D/root.pem;
        ssl_verify_client on;
        location /pkg/ { alias $D/www/; }
        location /slow/ { alias $D/www/; limit_rate 300k; }
        location /api/ { proxy_pass http://127.0.0.1:$BACKEND_PORT; proxy_http_version 1.1; }
        location /img/ { proxy_pass http://127.0.0.1:$BACKEND_PORT; proxy_http_version 1.1;
                         proxy_buffering off; }
    }
}
EOD
nginx -c "$D/nginx.conf" 2>>nginx-error.log || itest_die "nginx did not start (nginx-error.log)"

vsftpd_conf() { # PORT PASV_MIN PASV_MAX SSL
        cat <<EOD
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$1
background=NO
anonymous_enable=YES
local_enable=NO
anon_root=$D/www
no_anon_password=YES
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=$2
pasv_max_port=$3
ssl_enable=$4
allow_anon_ssl=YES
force_anon_logins_ssl=NO
force_anon_data_ssl=NO
require_ssl_reuse=NO
rsa_cert_file=$D/server.pem
rsa_private_key_file=$D/server.key
secure_chroot_dir=$D/empty
seccomp_sandbox=NO
xferlog_enable=YES
vsftpd_log_file=$D/vsftpd-$1.log
EOD
}
vsftpd_conf "$FTP_PORT" "$PASV_MIN" "$PASV_MAX" YES >vsftpd.conf
vsftpd_conf "$FTP_PLAIN_PORT" "$PASV2_MIN" "$PASV2_MAX" NO >vsftpd-plain.conf
# background=NO: the pid we record is the server's, to stop it by pid.
vsftpd vsftpd.conf >vsftpd.out 2>&1 &
ITEST_PIDS+=($!)
vsftpd vsftpd-plain.conf >vsftpd-plain.out 2>&1 &
ITEST_PIDS+=($!)

cat >backend.json <<EOD
{"port": $BACKEND_PORT, "secret_hex": "$(cat secret)", "device_id": "dev-1",
 "https_base": "https://127.0.0.1:$HTTPS_PORT", "ftp_base": "ftp://127.0.0.1:$FTP_PORT",
 "ftp_plain_base": "ftp://127.0.0.1:$FTP_PLAIN_PORT",
 "http_base": "http://127.0.0.1:$BACKEND_PORT", "pkg_root": "$D/www",
 "reports": "$D/reports.jsonl"}
EOD
python3 "$ITEST_ROOT/tests/cloud/backend.py" backend.json 2>backend.log &
ITEST_PIDS+=($!)
: >reports.jsonl
up() { curl -s -o /dev/null "$@"; }
itest_wait_for "nginx" up --cacert root.pem --cert client.pem --key client.key \
        "https://127.0.0.1:$HTTPS_PORT/pkg/good/manifest.json"
itest_wait_for "the backend" up "http://127.0.0.1:$BACKEND_PORT/_control?mode=normal"
itest_wait_for "vsftpd" up "ftp://127.0.0.1:$FTP_PORT/good/manifest.json"
itest_wait_for "plain vsftpd" up "ftp://127.0.0.1:$FTP_PLAIN_PORT/good/manifest.json"

mode() { curl -sf -o /dev/null "http://127.0.0.1:$BACKEND_PORT/_control?mode=$1"; }
# fetch NAME [options] CMD: umc-fetch with state dir state-NAME; output in NAME.out
fetch() {
        local name=$1 rc=0; shift
        "$FETCH" --url "https://127.0.0.1:$HTTPS_PORT/api" --id dev-1 --company acme \
                --product tbox --state-dir "$D/state-$name" --trust-anchor root.pem \
                --ca-file root.pem --retries 4 --backoff-ms 200 --connect-timeout 5 \
                --low-speed-limit 1000 --low-speed-time 3 --timeout 20 \
                --version bcm:1.0.0 --version big:3.9 "$@" >"$name.out" 2>&1 || rc=$?
        sed "s/^/  $name: /" "$name.out" >&2
        return $rc
}
mtls=(--cert client.pem --key client.key --secret-file secret)
stat_of() { sed -n "s/^STATS .*$1=\([0-9]*\).*/\1/p" "$2" | tail -n 1; }
pkg_files() { find "$D/state-$1/package" -type f | wc -l; }
reports() { grep -c . reports.jsonl || true; }

# ---- a normal run ----
mode normal
t0=$(date +%s%N)
itest_check "normal run: fetched, verified, reported" fetch ok "${mtls[@]}" run
uncapped_ms=$((($(date +%s%N) - t0) / 1000000))
cmp -s state-ok/package/big.img big.bin && cmp -s state-ok/package/bcm.img bcm.bin &&
        itest_pass "images fetched byte for byte" || itest_fail "images differ from the source"
grep -q '"result":"success"' reports.jsonl && grep -q '"package_version":"1.0.0"' reports.jsonl &&
        itest_pass "the success report reached the backend" || itest_fail "no success report"
grep -q 'versions=bcm:1.0.0,big:3.9' backend.log &&
        itest_pass "check carried company, product and versions" || itest_fail "versions not seen"
grep -q "QUEUED 0" ok.out && itest_pass "queue empty after the run" || itest_fail "queue not empty"
itest_check "a second run keeps the complete images (nothing fetched)" fetch ok "${mtls[@]}" run
[ "$(stat_of received ok.out)" = 0 ] && itest_pass "0 bytes fetched again" ||
        itest_fail "fetched $(stat_of received ok.out) bytes again"

# ---- a rate cap (CURLOPT_MAX_RECV_SPEED_LARGE) ----
t0=$(date +%s%N)
itest_check "rate-capped run (400 kB/s)" fetch rate "${mtls[@]}" --rate 400000 run
ms=$((($(date +%s%N) - t0) / 1000000))
# Ideal: 1700000 / 400000 = 4250 ms; allow the handshakes' head start.
[ "$ms" -ge 3400 ] && [ "$ms" -ge $((4 * uncapped_ms)) ] &&
        itest_pass "rate cap held: $TOTAL bytes took $ms ms (uncapped: $uncapped_ms ms)" ||
        itest_fail "rate cap: $TOTAL bytes in $ms ms (uncapped: $uncapped_ms ms)"

# ---- TLS: no client certificate; a CA that does not sign the server ----
rc=0; fetch nocert --secret-file secret run || rc=$?
[ $rc -eq 1 ] && grep -q "authent: HTTP 400" nocert.out && grep -q "QUEUED 1" nocert.out &&
        itest_pass "no client certificate: HTTP 400 from nginx, report queued" ||
        itest_fail "no client certificate: exit $rc"
n0=$(reports)
itest_check "queued report sent once the device has its certificate" \
        fetch nocert "${mtls[@]}" flush
[ "$(reports)" -eq $((n0 + 1)) ] && grep -q "QUEUED 0" nocert.out &&
        tail -n 1 reports.jsonl | grep -q 'authent: HTTP 400' &&
        itest_pass "the queued report reached the backend" || itest_fail "queued report not delivered"
rc=0; fetch badca "${mtls[@]}" --ca-file other.pem check || rc=$?
[ $rc -eq 1 ] && grep -qi "certificate" badca.out &&
        itest_pass "server not signed by the configured CA: refused, named" ||
        itest_fail "wrong CA: exit $rc"

# ---- a dropped connection and a stall resume with a range ----
lines=$(wc -l <backend.log)
mode drop
itest_check "dropped connection: run succeeds" fetch drop "${mtls[@]}" run
r=$(stat_of received drop.out); a=$(stat_of attempts drop.out)
[ -n "$r" ] && [ "$r" -lt $((2 * TOTAL)) ] && [ "$a" -ge 3 ] &&
        itest_pass "resumed, not restarted: $r bytes fetched for $TOTAL, $a attempts" ||
        itest_fail "drop: received=$r attempts=$a"
tail -n +"$lines" backend.log | grep -q "DROP after" && tail -n +"$lines" backend.log |
        grep -q "RANGE bytes=100000-" && itest_pass "backend log: cut at 100000, then Range bytes=100000-" ||
        itest_fail "no Range request after the drop in backend.log"
lines=$(wc -l <backend.log)
mode stall
itest_check "stalled server: run succeeds after the stall timeout" fetch stall "${mtls[@]}" run
r=$(stat_of received stall.out)
[ -n "$r" ] && [ "$r" -lt $((2 * TOTAL)) ] && tail -n +"$lines" backend.log | grep -q "RANGE bytes=" &&
        itest_pass "stall: resumed with a Range request, $r bytes for $TOTAL" ||
        itest_fail "stall: received=$r"

# ---- killed mid-download, restarted: resumes from the partial file ----
mode slow
"$FETCH" --url "https://127.0.0.1:$HTTPS_PORT/api" --id dev-1 --company acme --product tbox \
        --state-dir "$D/state-kill" --trust-anchor root.pem --ca-file root.pem "${mtls[@]}" \
        run >kill1.out 2>&1 &
kpid=$!
part_size() { { stat -c %s "$D"/state-kill/package/*.part 2>/dev/null || true; } | sort -n | tail -n 1; }
for _ in $(seq 1 100); do
        s=$(part_size); [ -n "$s" ] && [ "$s" -gt 400000 ] && break; sleep 0.1
done
kill -9 "$kpid"; wait "$kpid" 2>/dev/null || true
before=$(part_size)
[ -n "$before" ] && [ "$before" -gt 0 ] && itest_pass "killed with $before bytes in the partial file" ||
        itest_fail "no partial file after the kill"
itest_check "restarted: run succeeds" fetch kill "${mtls[@]}" run
from=$(stat_of resumed_from kill.out); r=$(stat_of received kill.out)
[ -n "$from" ] && [ "$from" -ge "$before" ] && [ "$((from + r))" -le "$TOTAL" ] &&
        itest_pass "resumed from $from bytes: fetched $r more, $((from + r)) of $TOTAL" ||
        itest_fail "restart: resumed_from=$from received=$r"
cmp -s state-kill/package/big.img big.bin && itest_pass "resumed image is byte for byte" ||
        itest_fail "resumed image differs"
grep -q 'range=bytes=' nginx-access.log && itest_pass "nginx log shows the Range request" ||
        itest_fail "no Range in nginx-access.log"

# ---- refusals: named, reported, nothing of the package left ----
refused() { # NAME MODE PATTERN REASON_DECIMAL
        local name=$1 rc=0
        mode "$2"
        fetch "$name" "${mtls[@]}" run || rc=$?
        if [ $rc -eq 1 ] && grep -q "$3" "$name.out" && [ "$(pkg_files "$name")" -eq 0 ] &&
           tail -n 1 reports.jsonl | grep -q "\"reason\":$4,"; then
                itest_pass "$2: refused ($3), package deleted, reported with reason $4"
        else
                itest_fail "$2: exit $rc, files left $(pkg_files "$name"), last report $(tail -n 1 reports.jsonl)"
        fi
}
refused hash wronghash "SHA-256 differs from the signed manifest" 771
refused over oversized "server sent more than the signed" 1808
refused untrusted untrusted "Manifest refused" 1797
[ "$(stat_of received untrusted.out)" = "" ] &&
        itest_pass "untrusted signer: no image byte fetched" || itest_fail "images fetched for an untrusted manifest"

ticket() { # NAME MODE PATTERN [options]
        local name=$1 m=$2 pat=$3 rc=0; shift 3
        mode "$m"
        fetch "$name" --cert client.pem --key client.key "$@" run || rc=$?
        [ $rc -eq 1 ] && grep -q "$pat" "$name.out" && [ "$(pkg_files "$name")" -eq 0 ] &&
                itest_pass "$m: refused by the backend ($pat), nothing fetched" ||
                itest_fail "$m: exit $rc"
}
mode normal; fetch warmup "${mtls[@]}" check >/dev/null 2>&1 || true
ticket replay replay "ticket_used" --secret-file secret
ticket expired expired "ticket_expired" --secret-file secret
ticket token normal "bad_token" --secret-file wrong-secret
ticket denied denied "backend says denied" --secret-file secret
grep -q "QUEUED 1" replay.out && itest_pass "replayed ticket: the failure report is queued" ||
        itest_fail "replay: report not queued"
mode normal
n0=$(reports)
itest_check "queued failure report sent once the backend is back" fetch replay "${mtls[@]}" flush
tail -n 1 reports.jsonl | grep -q "ticket_used" && [ "$(reports)" -eq $((n0 + 1)) ] &&
        itest_pass "the backend got the queued report naming ticket_used" ||
        itest_fail "queued report not at the backend"

# ---- a report the backend refuses to take is queued, sent later ----
mode reportdown
rc=0; fetch down "${mtls[@]}" run || rc=$?
[ $rc -eq 1 ] && grep -q "QUEUED 1" down.out && grep -q "HTTP 503, backend says unavailable" down.out &&
        itest_pass "report endpoint down: report queued on disk" || itest_fail "reportdown: exit $rc"
[ "$(find state-down/reports -name 'report-*.json' | wc -l)" -eq 1 ] &&
        itest_pass "one report file in the queue" || itest_fail "queue files wrong"
mode normal
itest_check "flush after the backend is back" fetch down "${mtls[@]}" flush
grep -q "QUEUED 0" down.out && tail -n 1 reports.jsonl | grep -q '"result":"success"' &&
        itest_pass "queued success report delivered" || itest_fail "queued report not delivered"

# ---- FTPS, plain FTP, plain HTTP ----
mode ftps
itest_check "images over explicit FTPS (AUTH TLS), server verified" fetch ftps "${mtls[@]}" run
cmp -s state-ftps/package/big.img big.bin && itest_pass "FTPS image byte for byte" ||
        itest_fail "FTPS image differs"
mode ftpplain
rc=0; fetch ftpplain "${mtls[@]}" run || rc=$?
[ $rc -eq 1 ] && grep -qi "SSL\|TLS" ftpplain.out &&
        itest_pass "plain FTP server refused without --allow-insecure (no TLS offered)" ||
        itest_fail "plain FTP without the option: exit $rc"
itest_check "plain FTP with --allow-insecure" fetch ftpplain2 "${mtls[@]}" --allow-insecure run
grep -q "only the package signature" ftpplain2.out && itest_pass "log says only the signature protects it" ||
        itest_fail "no warning line for plain transport"
mode http
rc=0; fetch http "${mtls[@]}" run || rc=$?
[ $rc -eq 1 ] && grep -q "Operation not permitted" http.out &&
        itest_pass "plain HTTP image URL refused without the option" || itest_fail "http: exit $rc"
itest_check "plain HTTP with --allow-insecure" fetch http2 "${mtls[@]}" --allow-insecure run

itest_summary
