#!/usr/bin/env bash
# The main job: set the machine up, build and package the extension, build the demo agent image,
# then either install the .vsix into a local VS Code (`code` on PATH) or start code-server with
# the extension installed on a sample workspace, launch a first agent through the real UI, and
# print the URL to open.
#   scripts/demo.sh            (BORG_DEMO_PORT=8080 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${BORG_DEMO_PORT:-8080}
bash scripts/setup.sh
npx vsce package --no-dependencies --allow-missing-repository --no-rewrite-relative-links -o borg-pipeline.vsix </dev/null >/dev/null
echo "[demo] packaged borg-pipeline.vsix"

if command -v code >/dev/null 2>&1 && [ -z "${BORG_DEMO_CODE_SERVER:-}" ]; then
  code --install-extension "$ROOT/borg-pipeline.vsix" --force
  echo "[demo] installed into your VS Code: open the Borg view in the activity bar and run 'Borg: Launch Agent'."
  exit 0
fi

DEMO=$ROOT/.scratch/demo
WS=$DEMO/sample-workspace
mkdir -p "$DEMO" "$WS"
[ -d "$WS/.git" ] || { git -C "$WS" init -q && printf '# Sample workspace\n\nHand tasks to Borg agents from the Borg view.\n' > "$WS/README.md"; }
cat > "$DEMO/config.yaml" <<YAML
bind-addr: 127.0.0.1:$PORT
auth: none
cert: false
YAML
mkdir -p "$DEMO/user/User"
[ -f "$DEMO/user/User/settings.json" ] || printf '{\n  "workbench.startupEditor": "none",\n  "workbench.colorTheme": "Default Dark Modern"\n}\n' > "$DEMO/user/User/settings.json"
CS=$ROOT/.vscode-test/code-server/node_modules/.bin/code-server
if [ -f "$DEMO/code-server.pid" ] && kill -0 "$(cat "$DEMO/code-server.pid")" 2>/dev/null; then
  kill "$(cat "$DEMO/code-server.pid")" || true
  sleep 1
fi
export XDG_CONFIG_HOME=$DEMO/xdg-config XDG_DATA_HOME=$DEMO/xdg-data XDG_CACHE_HOME=$DEMO/xdg-cache
export EXTENSIONS_GALLERY='{"serviceUrl":""}'
"$CS" --extensions-dir "$DEMO/extensions" --install-extension "$ROOT/borg-pipeline.vsix" --force >/dev/null
setsid nohup "$CS" --config "$DEMO/config.yaml" --user-data-dir "$DEMO/user" --extensions-dir "$DEMO/extensions" \
  --disable-telemetry --disable-update-check --disable-workspace-trust "$WS" >"$DEMO/code-server.log" 2>&1 < /dev/null &
echo $! > "$DEMO/code-server.pid"
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
URL="http://127.0.0.1:$PORT/?folder=$WS"
# Launch a first agent the way a person would (activity bar → palette → Launch Agent → worker).
node scripts/ui.mjs --url "$URL" --launch worker --screenshot "$DEMO/agents.png" || echo "[demo] could not drive the UI; launch an agent yourself"
echo "[demo] code-server is running (pid $(cat "$DEMO/code-server.pid"), log $DEMO/code-server.log)"
echo "[demo] open $URL — the Borg view shows the agent; stop it with: kill \$(cat $DEMO/code-server.pid)"
