#!/usr/bin/env bash
# Idempotent machine set-up for Borg Pipeline: system packages, npm dependencies, a running
# dockerd, code-server (the VS Code extension host used by the tests), the build and the demo
# agent image. Safe to run again: every step checks before it acts.
#   scripts/setup.sh [--no-code-server] [--with-claude]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CODE_SERVER_VERSION=4.100.3
want_code_server=1
want_claude=0
for arg in "$@"; do
  case "$arg" in
    --no-code-server) want_code_server=0 ;;
    --with-claude) want_claude=1 ;;
    *) echo "[setup] unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*"; }

# 1. System packages (Debian). dockerd from docker.io, busybox-static for the demo image,
#    chromium to drive the workbench, libkrb5-dev + ripgrep for code-server's install.
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
# the demo image needs a static busybox (no libc inside the image)
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then missing+=(busybox-static); fi
command -v chromium >/dev/null || missing+=(chromium)
command -v rg >/dev/null || missing+=(ripgrep)
[ -e /usr/include/krb5.h ] || [ -e /usr/include/krb5/krb5.h ] || missing+=(libkrb5-dev)
command -v git >/dev/null || missing+=(git)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || missing+=(openssh-server) # the ssh:// Docker host test runs a real sshd on 127.0.0.1
command -v ip >/dev/null || missing+=(iproute2) # the two-hosts tests and P11 start extra dockerd instances in their own network namespaces
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "[setup] missing system packages: ${missing[*]} — install them with apt-get as root, then run again" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # No service is started by a package's install (openssh-server's sshd, docker.io's dockerd): the
  # tests start what they need, detached; a daemon started here could hold this script's output.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1; fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
fi

# 2. npm dependencies (install scripts are decided in package.json "allowScripts").
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 3. dockerd: start it when nothing answers on the socket (no systemd on these machines).
if ! docker version >/dev/null 2>&1 && ! node scripts/docker-ping.mjs >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
    echo "[setup] DOCKER_HOST=$DOCKER_HOST does not answer; start that daemon and run again" >&2
    exit 1
  fi
  log "starting dockerd"
  mkdir -p .scratch
  setsid nohup dockerd --host unix:///var/run/docker.sock >.scratch/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    node scripts/docker-ping.mjs >/dev/null 2>&1 && break
    sleep 0.5
  done
  node scripts/docker-ping.mjs >/dev/null || { echo "[setup] dockerd did not come up; see .scratch/dockerd.log" >&2; tail -20 .scratch/dockerd.log >&2; exit 1; }
fi

# 4. code-server, the VS Code extension host the tests and the demo run in (VS Code itself
#    cannot be downloaded here). Its install fetches ripgrep from outside: pre-seed that cache.
CS_DIR=$ROOT/.vscode-test/code-server
if [ "$want_code_server" = 1 ] && [ ! -x "$CS_DIR/node_modules/.bin/code-server" ]; then
  log "installing code-server $CODE_SERVER_VERSION into .vscode-test/ (about a minute)"
  mkdir -p "$CS_DIR" "$CS_DIR/tmp/vscode-ripgrep-cache-1.15.11"
  rgtmp=$(mktemp -d)
  cp "$(command -v rg)" "$rgtmp/rg"
  tar -C "$rgtmp" -czf "$CS_DIR/tmp/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" rg
  rm -rf "$rgtmp"
  cat > "$CS_DIR/package.json" <<JSON
{ "name": "borg-code-server", "private": true,
  "dependencies": { "code-server": "$CODE_SERVER_VERSION" },
  "allowScripts": { "code-server": true, "argon2": true } }
JSON
  (cd "$CS_DIR" && TMPDIR=$CS_DIR/tmp npm_config_unsafe_perm=true npm_config_yes=true \
    npm install --no-audit --no-fund --loglevel=error >install.log 2>&1) \
    || { echo "[setup] code-server install failed; see $CS_DIR/install.log" >&2; tail -30 "$CS_DIR/install.log" >&2; exit 1; }
fi

# 5. Build: type-check + compile tests to out/, bundle the extension and CLI to dist/.
log "building"
rm -rf out
npx tsc -p .
node scripts/build.mjs

# 6. The demo agent image (offline: busybox rootfs imported through dockerode).
node dist/cli.js image build-demo >/dev/null

# 7. The real Claude Code agent image (Debian rootfs from Debian's packages + the claude binary
#    from npm), for the tests that run it: minutes the first time, seconds once it is current.
if [ "$want_claude" = 1 ]; then
  log "building borg-agent-claude:latest if needed (first time: a few minutes)"
  node scripts/build-claude-image.mjs >/dev/null
fi
log "ready"
