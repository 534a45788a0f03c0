#!/bin/sh
# packaging/test-in-nspawn.sh: boot a throwaway systemd container and check the packaging for
# real: install.sh as root (user, data dir, unit, enable, restart), Type=notify readiness, the
# hardened sandbox (no capabilities, seccomp, NoNewPrivileges), the watchdog restarting a
# frozen server, an upgrade that keeps the operator's configuration, and a clean stop.
#
# Usage (root; needs systemd-nspawn from Debian's systemd-container, and overlayfs):
#   sudo packaging/test-in-nspawn.sh [BINARY]     # default: target/release/sessionfs-server
#
# The container is this machine's own root file system under a tmpfs overlay with a private
# network (loopback only): nothing it writes reaches the host, and it is gone afterwards.
# Takes about a minute and a half (the watchdog check waits for a 30 s timeout).
set -eu

SRC_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
BINARY=${1:-$SRC_DIR/target/release/sessionfs-server}
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
command -v systemd-nspawn >/dev/null || { echo "needs systemd-nspawn (apt-get install systemd-container)" >&2; exit 1; }
[ -x "$BINARY" ] || { echo "no binary at $BINARY" >&2; exit 1; }

WORK=$(mktemp -d)
ROOT=$WORK/root
cleanup() {
    umount "$ROOT" 2>/dev/null || true
    umount "$WORK/layer" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/layer" "$ROOT"
mount -t tmpfs tmpfs "$WORK/layer"
mkdir -p "$WORK/layer/upper" "$WORK/layer/work"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/layer/upper,workdir=$WORK/layer/work" "$ROOT"

T=$ROOT/opt/sfs-test
mkdir -p "$T/src/packaging"
cp "$BINARY" "$T/sessionfs-server"
cp "$SRC_DIR/install.sh" "$T/src/"
cp "$SRC_DIR"/packaging/sessionfs-server.service "$SRC_DIR"/packaging/sessionfs.env \
    "$SRC_DIR"/packaging/README.md "$T/src/packaging/"
# A machine id of its own, or nspawn refuses to boot the host's tree.
rm -f "$ROOT/etc/machine-id"
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$ROOT/etc/machine-id"

cat >"$T/check.sh" <<'EOF'
#!/bin/sh
exec >/opt/sfs-test/result.log 2>&1
fail() { echo "FAIL: $*"; systemctl poweroff; exit 1; }
show() { systemctl show -p "$1" --value sessionfs-server; }
set -x
sh /opt/sfs-test/src/install.sh --binary /opt/sfs-test/sessionfs-server || fail "install.sh"
[ "$(show ActiveState)" = active ] || fail "not active after install"
case $(show StatusText) in "listening on http://127.0.0.1:8000") ;; *) fail "status text";; esac
curl -fsS -m 5 http://127.0.0.1:8000/health || fail "health"
curl -fsS -m 5 -X POST -H 'content-type: application/json' -d '{"email":"a@example.com"}' \
    http://127.0.0.1:8000/api/v1/auth/signup || fail "signup (a write under the sandbox)"
PID=$(show MainPID)
grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/$PID/status || fail "has capabilities"
grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/$PID/status || fail "NoNewPrivs"
grep -q '^Seccomp:[[:space:]]*2$' /proc/$PID/status || fail "no seccomp filter"
[ "$(stat -c %U /proc/$PID)" = sessionfs ] || fail "not running as sessionfs"
echo "--- frozen: the watchdog must restart it"
kill -STOP "$PID"
sleep 45
[ "$(show NRestarts)" = 1 ] || fail "watchdog did not restart (NRestarts=$(show NRestarts))"
[ "$(show ActiveState)" = active ] || fail "not active after the watchdog restart"
curl -fsS -m 5 http://127.0.0.1:8000/health || fail "health after restart"
echo "--- upgrade: the operator's configuration stays"
echo '#operator edit' >>/etc/sessionfs/sessionfs.env
sh /opt/sfs-test/src/install.sh --binary /opt/sfs-test/sessionfs-server || fail "second install.sh"
[ "$(tail -n 1 /etc/sessionfs/sessionfs.env)" = '#operator edit' ] || fail "env file overwritten"
[ "$(show ActiveState)" = active ] || fail "not active after the upgrade"
systemctl stop sessionfs-server
[ "$(show Result)" = success ] || fail "unclean stop: $(show Result)"
journalctl -u sessionfs-server --no-pager | tail -n 30
systemd-analyze security sessionfs-server --no-pager | tail -n 1
echo "ALL CHECKS PASSED"
systemctl poweroff
EOF
chmod +x "$T/check.sh"
printf '[Unit]\nDescription=sessionfs packaging check\n[Service]\nType=oneshot\nExecStart=/opt/sfs-test/check.sh\n[Install]\nWantedBy=multi-user.target\n' \
    >"$ROOT/etc/systemd/system/sfs-check.service"
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/sfs-check.service "$ROOT/etc/systemd/system/multi-user.target.wants/"

echo "booting the container (about 90 s)..."
timeout 600 systemd-nspawn -D "$ROOT" --boot --private-network --register=no --keep-unit \
    --link-journal=no --console=pipe -- systemd.unit=multi-user.target >"$WORK/console.log" 2>&1 || true
cat "$T/result.log" 2>/dev/null || { echo "no result; console:"; cat "$WORK/console.log"; exit 1; }
grep -q '^ALL CHECKS PASSED$' "$T/result.log"
