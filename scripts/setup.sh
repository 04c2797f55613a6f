#!/usr/bin/env bash
# Idempotent installer for hpcai on Debian bookworm.
#   - Debian packages in APT_PACKAGES (apt-get update only when one is missing;
#     HPCAI_SKIP_APT=1 skips apt entirely)
#   - virtualenv at <repo>/.venv with torch==2.13.0 (CPU wheel, pinned through
#     scripts/constraints.txt) and the project itself: pip install -e '.[test]'
# pip work is skipped while .venv/.hpcai-setup-stamp matches the hash of
# setup.cfg + pyproject.toml + constraints.txt + this script.
set -euo pipefail

# Debian packages the project needs; later issues add to this list (slurmctld, ...).
# Browser tests of the portal (issue 5): Debian's chromium, driven by Playwright.
# Slurm (issue 3): single-node test cluster (tests/services/slurm.sh).
# Grid Engine (issue 3): DRMAA target (tests/services/gridengine.sh); needs the debconf
# answers preseeded below, and libjemalloc2 for LD_PRELOAD (see notes/environment.md).
# chromium: portal browser tests. mariadb-server: the mysql dataset backend's tests.
# podman + runc: the Docker Compose service type (podman-compose itself comes from pip: Debian's
# 1.0.3 cannot run `network_mode: host`); busybox-static: the rootfs of its test image; uidmap:
# podman rootless (services run as their users, issue 13).
# g++ make ccache: image builds that compile (Horovod from source, DeepSpeed's CPU ops); ccache
# lets a retried or re-pinned build reuse its objects (issue 4). nginx: the scale-out front of the
# service proxy (auth_request to the portal; `hpcai serve --front nginx`, issue 21).
# openssh-server libnss-wrapper sshpass: SSH into an environment (issue 17): a private sshd as the
# user with nss_wrapper resolving its generated login (hooks/envrun); sshpass drives the tests.
# tigervnc-standalone-server tigervnc-tools novnc websockify xfce4 xfce4-terminal dbus-x11: the
# Desktop environment (issue 17): TigerVNC's X server and vncpasswd, noVNC + websockify, XFCE.
# ripgrep: VS Code's search in code-server (its npm postinstall would download rg from GitHub).
APT_PACKAGES="postgresql procps psmisc munge slurmctld slurmd slurm-client \
gridengine-master gridengine-exec gridengine-client gridengine-drmaa1.0 libjemalloc2 \
openmpi-bin g++ make ccache \
chromium fonts-wqy-zenhei mariadb-server \
podman runc busybox-static uidmap \
nginx nodejs debootstrap docker-registry \
openssh-server libnss-wrapper sshpass \
tigervnc-standalone-server tigervnc-tools novnc websockify xfce4 xfce4-terminal dbus-x11 \
ripgrep"

TORCH_SPEC="torch==2.13.0"
# setup.cfg extras installed into .venv (test tools, the tracking server and its SDK
# extras, auto-tuning).
EXTRAS="test,tracking,autotune,pipelines,containers,environments,rl"
WHEEL_DIR="/opt/wheels"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENV="$REPO_ROOT/.venv"
CONSTRAINTS="$SCRIPT_DIR/constraints.txt"
STAMP="$VENV/.hpcai-setup-stamp"
PYTHON="${PYTHON:-python3}"

log() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# One setup at a time per checkout (test.sh runs may overlap).
mkdir -p "$REPO_ROOT/var"
exec 9>"$REPO_ROOT/var/.setup.lock"
flock 9

# ---------------------------------------------------------------- apt
if [[ "${HPCAI_SKIP_APT:-0}" == "1" ]]; then
    log "apt: skipped (HPCAI_SKIP_APT=1)"
else
    wanted="$APT_PACKAGES"
    # Debian's own python3 needs python3-venv for 'python3 -m venv'.
    if ! command -v "$PYTHON" >/dev/null 2>&1; then
        wanted="$wanted python3 python3-venv"
    elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        wanted="$wanted python3-venv"
    fi
    missing=()
    for pkg in $wanted; do
        status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == "installed" ]] || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        SUDO=""
        if [[ "$(id -u)" != "0" ]]; then
            command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to install: ${missing[*]}"
            SUDO="sudo"
        fi
        if [[ " ${missing[*]} " == *" gridengine-"* ]]; then
            # Without these answers gridengine-common asks interactively / leaves no cell.
            $SUDO debconf-set-selections <<SEL
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string default
gridengine-common shared/gridenginemaster string $(hostname -s)
gridengine-client shared/gridengineconfig boolean true
gridengine-client shared/gridenginecell string default
gridengine-client shared/gridenginemaster string $(hostname -s)
SEL
        fi
        log "apt: installing ${missing[*]}"
        t0=$SECONDS
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
        log "apt: done in $((SECONDS - t0)) s"
    else
        log "apt: all present ($APT_PACKAGES)"
    fi
fi

# ---------------------------------------------------------------- venv
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); hpcai needs Python >= 3.11"

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    :
else
    [[ -e "$VENV" ]] && { log "venv: $VENV is broken, recreating"; rm -rf "$VENV"; }
    log "venv: creating $VENV ($("$PYTHON" -V 2>&1))"
    "$PYTHON" -m venv "$VENV"
fi

# Jobs run as their users (core/identity.py), and they run this venv's interpreter and the
# repository's launcher: every directory on the way to both must let others pass (o+x, never
# o+r: a 0700 /root becomes 0711, listable by no one). A site installs under /opt instead.
if [[ "$(id -u)" == "0" ]]; then
    for target in "$(readlink -f "$VENV/bin/python")" "$REPO_ROOT/hooks/jairun"; do
        d="$(dirname "$target")"
        while [[ "$d" != "/" ]]; do
            [[ -d "$d" && ! "$(stat -c %A "$d")" =~ x$ ]] && { log "perms: o+x $d (jobs run as their users)"; chmod o+x "$d"; }
            d="$(dirname "$d")"
        done
    done
fi

# ---------------------------------------------------------------- front end
# The pipeline designer's node editor (Drawflow, MIT) from the npm registry, pinned by
# portal/frontend/package-lock.json, vendored into portal/static/vendor/ (not committed).
# Redone only when the lock file changes; npm's cache (~/.npm) makes a redo cheap.
FRONTEND="$REPO_ROOT/portal/frontend"
VENDOR="$REPO_ROOT/portal/static/vendor"
fe_hash="$(sha256sum "$FRONTEND/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "$VENDOR/.stamp" 2>/dev/null || true)" != "$fe_hash" ]]; then
    # Debian's nodejs ships npm separately; NodeSource's nodejs includes it (and conflicts with it)
    command -v npm >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q npm >/dev/null
    t0=$SECONDS
    (cd "$FRONTEND" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    rm -rf "$VENDOR/drawflow" && mkdir -p "$VENDOR/drawflow"
    cp "$FRONTEND/node_modules/drawflow/dist/drawflow.min.js" "$FRONTEND/node_modules/drawflow/dist/drawflow.min.css" \
        "$VENDOR/drawflow/"
    echo "$fe_hash" > "$VENDOR/.stamp"
    log "front end: drawflow vendored in $((SECONDS - t0)) s"
fi

# ---------------------------------------------------------------- npm (Web terminal)
# xterm.js (MIT) for the Web terminal environment, pinned by its package-lock.json, copied
# into plugins/environments/webterminal/static/ (not committed), which the job-side server serves.
WT_FE="$REPO_ROOT/plugins/environments/webterminal/frontend"
WT_DEST="$REPO_ROOT/plugins/environments/webterminal/static"
wt_hash="$(sha256sum "$WT_FE/package-lock.json" | cut -d' ' -f1)"
if [[ "$(cat "$WT_DEST/.stamp" 2>/dev/null || true)" != "$wt_hash" ]]; then
    command -v npm >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q npm >/dev/null
    (cd "$WT_FE" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    rm -rf "$WT_DEST" && mkdir -p "$WT_DEST"
    cp "$WT_FE/node_modules/@xterm/xterm/lib/xterm.js" "$WT_FE/node_modules/@xterm/xterm/css/xterm.css" \
        "$WT_FE/node_modules/@xterm/addon-fit/lib/addon-fit.js" "$WT_DEST/"
    echo "$wt_hash" > "$WT_DEST/.stamp"
    log "front end: xterm.js vendored for the Web terminal"
fi

# ---------------------------------------------------------------- npm (VS Code)
# code-server (MIT) for the VS Code environment, pinned by its package-lock.json, installed into
# plugins/environments/vscode/server/node_modules (not committed, ~500 MB). Its own postinstall
# fetches prebuilt binaries from GitHub (argon2, ripgrep), which a site without Internet access
# cannot reach, so the steps are done here: npm without scripts, the native modules compiled
# against the node headers (/usr/include/node), Debian's ripgrep where VS Code looks for rg.
# kerberos (VS Code's proxy authentication) stays unbuilt: it needs libkrb5-dev and is loaded
# only on demand. Skipped while the stamp matches; HPCAI_SKIP_NPM=1 skips it (the type then
# says code-server is missing).
CS_DIR="$REPO_ROOT/plugins/environments/vscode/server"
CS_STAMP="$CS_DIR/node_modules/.hpcai-stamp"
cs_hash="$( (cat "$CS_DIR/package-lock.json"; echo "steps 1") | sha256sum | cut -d' ' -f1)"
if [[ "${HPCAI_SKIP_NPM:-0}" != 1 && "$(cat "$CS_STAMP" 2>/dev/null || true)" != "$cs_hash" ]]; then
    command -v npm >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q npm >/dev/null
    node_major="$(node -p 'process.versions.node.split(".")[0]')"
    [[ "$node_major" == 20 ]] || die "code-server 4.100 needs node 20 (its package.json engines), this node is $(node --version)"
    command -v rg >/dev/null || die "ripgrep (rg) is missing: VS Code's search needs it (APT_PACKAGES)"
    NODE_GYP="$(npm prefix -g)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
    export npm_config_nodedir=/usr  # node's own headers, not a download from nodejs.org
    t0=$SECONDS
    rm -f "$CS_STAMP"
    (cd "$CS_DIR" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
        && npm_config_build_from_source=true timeout 600 npm rebuild argon2 --loglevel=error >/dev/null)
    VSC="$CS_DIR/node_modules/code-server/lib/vscode"
    (cd "$VSC" && timeout 600 npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
        && (cd extensions && timeout 600 npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error))
    for mod in node-pty @vscode/spdlog native-watchdog @vscode/deviceid; do
        (cd "$VSC/node_modules/$mod" && node "$NODE_GYP" rebuild --loglevel=error >/dev/null)
    done
    # what code-server's postinstall links (its lib/vscode/node_modules.asar and bin scripts)
    ln -sfn node_modules "$VSC/node_modules.asar"
    ln -sfn code-linux.sh "$VSC/bin/remote-cli/code-server"
    ln -sfn browser-linux.sh "$VSC/bin/helpers/browser.sh"
    mkdir -p "$VSC/node_modules/@vscode/ripgrep/bin"
    ln -sfn "$(command -v rg)" "$VSC/node_modules/@vscode/ripgrep/bin/rg"
    "$CS_DIR/node_modules/.bin/code-server" --version >/dev/null || die "code-server does not start (see above)"
    echo "$cs_hash" > "$CS_STAMP"
    log "npm: code-server $(node -p "require('$CS_DIR/node_modules/code-server/package.json').version") installed in $((SECONDS - t0)) s"
    unset npm_config_nodedir
fi

# ---------------------------------------------------------------- npm (labeling UI)
# Label Studio's embeddable frontend (issue 19), pinned by portal/labeling-ui/package-lock.json,
# copied into portal/static/vendor/label-studio (not committed: 2.6 MB). Skipped while the
# copy's stamp matches the lock file's hash; HPCAI_SKIP_NPM=1 skips it (the labeling pages
# then say the front end is missing).
LS_UI="$REPO_ROOT/portal/labeling-ui"
LS_DEST="$REPO_ROOT/portal/static/vendor/label-studio"
if [[ "${HPCAI_SKIP_NPM:-0}" != 1 && -f "$LS_UI/package-lock.json" ]]; then
    ls_hash="$(sha256sum "$LS_UI/package-lock.json" | cut -d' ' -f1)"
    if [[ ! -f "$LS_DEST/.stamp" || "$(cat "$LS_DEST/.stamp")" != "$ls_hash" ]]; then
        if ! command -v npm >/dev/null 2>&1; then
            log "npm: installing Debian's nodejs and npm"
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q nodejs npm >/dev/null
        fi
        log "npm: installing the labeling front end (npm ci)"
        (cd "$LS_UI" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
        src="$LS_UI/node_modules/@heartexlabs/label-studio/build/static"
        mkdir -p "$LS_DEST"
        cp "$src/js/main.js" "$LS_DEST/main.js"
        cp "$src/css/main.css" "$LS_DEST/main.css"
        cp "$LS_UI/node_modules/@heartexlabs/label-studio/LICENSE" "$LS_DEST/LICENSE"
        echo "$ls_hash" > "$LS_DEST/.stamp"
        log "npm: label studio frontend copied to $LS_DEST"
    fi
fi

# ---------------------------------------------------------------- pip
stamp_hash="$(cat "$REPO_ROOT/setup.cfg" "$REPO_ROOT/pyproject.toml" "$CONSTRAINTS" \
    "$SCRIPT_DIR/setup.sh" 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$stamp_hash" ]]; then
    log "pip: up to date (stamp matches), nothing to do"
    exit 0
fi

rm -f "$STAMP"
pip_args=(--disable-pip-version-check -q -c "$CONSTRAINTS")
[[ -d "$WHEEL_DIR" ]] && pip_args+=(--find-links "$WHEEL_DIR")
PIP=("$VENV/bin/python" -m pip)
# This machine's pip.conf names file:// indexes that lack most projects: drop that noise.
quiet_pip() { "${PIP[@]}" "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; }

t0=$SECONDS
log "pip: installing $TORCH_SPEC"
quiet_pip install "${pip_args[@]}" "$TORCH_SPEC"
log "pip: installing -e '.[$EXTRAS]'"
(cd "$REPO_ROOT" && quiet_pip install "${pip_args[@]}" --config-settings editable_mode=compat -e ".[$EXTRAS]")
# A resolver can still sneak another torch in; refuse to leave that behind.
got="$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')"
[[ "$got" == "${TORCH_SPEC#torch==}"* ]] || die "torch $got installed, expected ${TORCH_SPEC#torch==}"
echo "$stamp_hash" > "$STAMP"
log "pip: done in $((SECONDS - t0)) s (torch $got)"
