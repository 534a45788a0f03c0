#!/bin/sh
# install.sh: install or upgrade sessionfs-server as a systemd service.
#
# Run it again to upgrade: the binary is replaced atomically, the unit refreshed, the
# operator's /etc/sessionfs/sessionfs.env kept, and the service restarted (migrations run at
# start). `./install.sh --help` for the options; packaging/README.md for the whole story.
set -eu

NAME=sessionfs-server
SERVICE_USER=sessionfs
SERVICE_GROUP=sessionfs
STATE_DIR=/var/lib/sessionfs
BIN_DIR=/usr/local/bin
UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/sessionfs
DOC_DIR=/usr/local/share/doc/sessionfs-server

usage() {
    cat <<EOF
Usage: ./install.sh [--binary PATH] [--prefix ROOT] [--no-systemctl] [--help]

Installs sessionfs-server as a systemd service, or upgrades an installed one in place.

  --binary PATH   install this binary (default: run 'cargo build --release --locked' here
                  and install target/release/sessionfs-server)
  --prefix ROOT   install everything under ROOT instead of / (a package build, an image,
                  a test); the same as DESTDIR=ROOT in the environment. Under a ROOT other
                  than /, no user is created, nothing is chowned, systemctl is not run.
  --no-systemctl  do not run systemctl (daemon-reload, enable, restart)
  -h, --help      show this help

What it does (each step is skipped when already done, so it is safe to run again):
  - creates the system user and group '$SERVICE_USER' (no login shell, home $STATE_DIR)
  - creates $STATE_DIR (mode 0750, owned by $SERVICE_USER), the data dir
  - installs the binary to $BIN_DIR/$NAME (copied to a temp name in that
    directory, then renamed over the old one: a running server is never half-replaced)
  - installs the unit to $UNIT_DIR/$NAME.service
  - installs $CONF_DIR/sessionfs.env ONLY if it does not exist: your configuration
    is never overwritten (the current example goes to $DOC_DIR/sessionfs.env.example)
  - when systemd is running: systemctl daemon-reload, enable, restart

Build it yourself and install as root:
  cargo build --release --locked && sudo ./install.sh --binary target/release/sessionfs-server
EOF
}

say() { printf 'install.sh: %s\n' "$*"; }
die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

BINARY=
ROOT=${DESTDIR:-}
RUN_SYSTEMCTL=yes
while [ $# -gt 0 ]; do
    case $1 in
        --binary)
            [ $# -ge 2 ] || die "--binary needs a path"
            BINARY=$2
            shift 2
            ;;
        --binary=*)
            BINARY=${1#--binary=}
            shift
            ;;
        --prefix | --root)
            [ $# -ge 2 ] || die "$1 needs a directory"
            ROOT=$2
            shift 2
            ;;
        --prefix=* | --root=*)
            ROOT=${1#*=}
            shift
            ;;
        --no-systemctl)
            RUN_SYSTEMCTL=no
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown option: $1"
            ;;
    esac
done

# The directory holding this script (and packaging/).
SRC_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
PACKAGING=$SRC_DIR/packaging
for f in sessionfs-server.service sessionfs.env README.md; do
    [ -f "$PACKAGING/$f" ] || die "missing $PACKAGING/$f (run install.sh from its source tree)"
done

# ROOT: "" means the real system; strip trailing slashes, so "/" is "" too.
while :; do
    case $ROOT in
        */) ROOT=${ROOT%/} ;;
        *) break ;;
    esac
done
if [ -n "$ROOT" ]; then
    case $ROOT in
        /*) ;;
        *) ROOT=$(pwd)/$ROOT ;;
    esac
    mkdir -p "$ROOT"
    SYSTEM=no
    say "installing under $ROOT (no user creation, no chown, no systemctl)"
else
    SYSTEM=yes
    [ "$(id -u)" -eq 0 ] || die "installing to / needs root: run it with sudo (or use --prefix ROOT)"
fi

umask 022
TMP_FILES=
cleanup() {
    for t in $TMP_FILES; do
        rm -f "$t"
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# install_file SRC DEST MODE: copies SRC to a temp name beside DEST, then renames it over
# DEST (atomic: readers see the old file or the new one, never a partial one). Sets CHANGED
# to "new", "updated" or "unchanged".
install_file() {
    src=$1
    dest=$2
    mode=$3
    if [ ! -e "$dest" ]; then
        CHANGED=new
    elif cmp -s "$src" "$dest"; then
        CHANGED=unchanged
        chmod "$mode" "$dest"
        return 0
    else
        CHANGED=updated
    fi
    tmp=$(dirname -- "$dest")/.$(basename -- "$dest").new.$$
    TMP_FILES="$TMP_FILES $tmp"
    cp -- "$src" "$tmp"
    chmod "$mode" "$tmp"
    mv -f -- "$tmp" "$dest"
}

# --- 1. the binary ------------------------------------------------------------------------
if [ -z "$BINARY" ]; then
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: build first (cargo build --release --locked) and pass --binary target/release/$NAME"
    say "building: cargo build --release --locked (in $SRC_DIR)"
    (cd "$SRC_DIR" && cargo build --release --locked)
    BINARY=$SRC_DIR/target/release/$NAME
fi
[ -f "$BINARY" ] || die "no binary at $BINARY"
[ -x "$BINARY" ] || die "$BINARY is not executable"
NEW_VERSION=$("$BINARY" --version 2>/dev/null) ||
    die "$BINARY does not run on this machine ('$BINARY --version' failed)"

# --- 2. user, group and data dir ------------------------------------------------------------
if [ "$SYSTEM" = yes ]; then
    if getent group "$SERVICE_GROUP" >/dev/null 2>&1; then
        say "group $SERVICE_GROUP exists"
    else
        groupadd --system "$SERVICE_GROUP"
        say "created system group $SERVICE_GROUP"
    fi
    if id -u "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER exists"
    else
        NOLOGIN=$(command -v nologin 2>/dev/null || true)
        for candidate in /usr/sbin/nologin /sbin/nologin /bin/false; do
            [ -n "$NOLOGIN" ] && break
            [ -x "$candidate" ] && NOLOGIN=$candidate
        done
        useradd --system --gid "$SERVICE_GROUP" --home-dir "$STATE_DIR" --no-create-home \
            --shell "$NOLOGIN" --comment "SessionFS server" "$SERVICE_USER"
        say "created system user $SERVICE_USER (shell $NOLOGIN, home $STATE_DIR)"
    fi
fi

DATA=$ROOT$STATE_DIR
if [ -d "$DATA" ]; then
    say "data dir $DATA exists (kept as it is)"
else
    mkdir -p "$DATA"
    say "created data dir $DATA"
fi
chmod 0750 "$DATA"
if [ "$SYSTEM" = yes ]; then
    chown "$SERVICE_USER:$SERVICE_GROUP" "$DATA"
fi

# --- 3. files -------------------------------------------------------------------------------
mkdir -p "$ROOT$BIN_DIR" "$ROOT$UNIT_DIR" "$ROOT$CONF_DIR" "$ROOT$DOC_DIR"

DEST_BIN=$ROOT$BIN_DIR/$NAME
OLD_VERSION=
if [ -x "$DEST_BIN" ]; then
    OLD_VERSION=$("$DEST_BIN" --version 2>/dev/null || echo "an unknown version")
fi
install_file "$BINARY" "$DEST_BIN" 0755
case $CHANGED in
    new) say "installed $DEST_BIN ($NEW_VERSION)" ;;
    updated) say "upgraded $DEST_BIN: $OLD_VERSION -> $NEW_VERSION" ;;
    unchanged) say "$DEST_BIN is already this binary ($NEW_VERSION)" ;;
esac

install_file "$PACKAGING/sessionfs-server.service" "$ROOT$UNIT_DIR/$NAME.service" 0644
UNIT_CHANGED=$CHANGED
say "unit $ROOT$UNIT_DIR/$NAME.service: $CHANGED"

install_file "$PACKAGING/README.md" "$ROOT$DOC_DIR/README.md" 0644
install_file "$PACKAGING/sessionfs.env" "$ROOT$DOC_DIR/sessionfs.env.example" 0644
say "documentation and the example configuration in $ROOT$DOC_DIR"

ENV_FILE=$ROOT$CONF_DIR/sessionfs.env
if [ -e "$ENV_FILE" ]; then
    say "kept your $ENV_FILE (never overwritten; compare with $ROOT$DOC_DIR/sessionfs.env.example for new settings)"
else
    install_file "$PACKAGING/sessionfs.env" "$ENV_FILE" 0640
    if [ "$SYSTEM" = yes ]; then
        chown "root:$SERVICE_GROUP" "$ENV_FILE"
    fi
    say "installed the configuration $ENV_FILE (edit it, then: systemctl restart $NAME)"
fi

# --- 4. systemd -----------------------------------------------------------------------------
if [ "$SYSTEM" = no ]; then
    say "done: files are under $ROOT; systemctl was not run"
    exit 0
fi
if [ "$RUN_SYSTEMCTL" = no ]; then
    say "done; systemctl was not run (--no-systemctl). To start: systemctl daemon-reload && systemctl enable --now $NAME"
    exit 0
fi
if [ ! -d /run/systemd/system ] || ! command -v systemctl >/dev/null 2>&1; then
    say "systemd is not running on this machine: the service was not enabled or started."
    say "run it by hand: sudo -u $SERVICE_USER sh -c 'set -a; . $ENV_FILE; exec $DEST_BIN serve'"
    exit 0
fi

systemctl daemon-reload
[ "$UNIT_CHANGED" = unchanged ] || say "systemctl daemon-reload (unit $UNIT_CHANGED)"
systemctl enable "$NAME.service" >/dev/null 2>&1 || systemctl enable "$NAME.service"
say "enabled $NAME (starts at boot)"
# Type=notify: restart returns once the new process has run its migrations and listens.
if systemctl restart "$NAME.service"; then
    say "restarted $NAME: $(systemctl show -p StatusText --value "$NAME.service" 2>/dev/null || echo running)"
    say "status: systemctl status $NAME    logs: journalctl -u $NAME -f"
else
    say "$NAME failed to start; its last log lines:"
    journalctl -u "$NAME.service" -n 30 --no-pager >&2 || true
    die "fix the cause (often $ENV_FILE), then: systemctl restart $NAME"
fi
