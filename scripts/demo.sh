#!/usr/bin/env bash
# The main job: set the machine up, build and package the extension, build the Claude Code agent
# image, lay out a sample repository (media/demo-sample, committed) whose settings point Borg at
# that image and at a scripted model recording the gateway replays (scripts/demo-recording.mjs:
# no model, no key, no network), then either install the .vsix into a local VS Code (`code` on
# PATH) and open the sample, or start code-server on it, add a task through the real UI, wait
# until the real Claude CLI in the agent containers has taken it spec → qa → impl → test → done,
# take screenshots into .scratch/demo/ and print the URL to open.
#   scripts/demo.sh            (BORG_DEMO_PORT=8080 by default; BORG_DEMO_CODE_SERVER=1 forces
#                               code-server even when `code` is on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${BORG_DEMO_PORT:-8080}
T0=$SECONDS
log() { printf '[demo] %s\n' "$*"; }
bash scripts/setup.sh --with-claude
npx vsce package --no-dependencies --allow-missing-repository --no-rewrite-relative-links -o borg-pipeline.vsix </dev/null >/dev/null
log "packaged borg-pipeline.vsix (set-up and build: $((SECONDS - T0)) s)"

DEMO=$ROOT/.scratch/demo
WS=$DEMO/sample-workspace
RECORDING=$DEMO/demo-recording.jsonl
TITLE='Greet by name'
DESCRIPTION="greet(name) says Hello, <name>! — and still Hello, world! without a name. (Demo: the model is a scripted recording the gateway replays.)"
mkdir -p "$DEMO"

# The workspace id (the borg.workspace label on its containers), as the extension derives it.
workspace_id() { node -e 'const w = require(process.argv[1]); console.log(w.workspaceId(w.workspaceKeyOf(process.argv[2])))' "$ROOT/out/src/core/workspace.js" "$WS"; }

# The sample repository with its first commit (a task branches from HEAD), and its settings:
# .vscode/ stays out of git (.git/info/exclude), so task worktrees never carry this machine's paths.
sample() {
  mkdir -p "$WS"
  # Its own repository, never the one around it (.scratch/ sits inside this project's clone).
  [ -d "$WS/.git" ] || git -C "$WS" init -q -b main
  if ! git -C "$WS" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    cp -R "$ROOT/media/demo-sample/." "$WS/"
    printf '.vscode/\n' >>"$WS/.git/info/exclude"
    git -C "$WS" add -A
    git -C "$WS" -c user.name='Borg demo' -c user.email='demo@borg.invalid' commit -q -m 'greet: a tiny Node module and its tests'
    log "sample repository $WS (first commit $(git -C "$WS" rev-parse --short HEAD))"
  fi
  mkdir -p "$WS/.vscode"
  cat >"$WS/.vscode/settings.json" <<JSON
{
  "borg.agentImage": "borg-agent-claude:latest",
  "borg.network": "gateway",
  "borg.modelUpstream": "replay:$RECORDING",
  "borg.testCommand": "sh run-tests.sh",
  "borg.maxParallelAgents": 2
}
JSON
  node scripts/demo-recording.mjs "$RECORDING"
}

if command -v code >/dev/null 2>&1 && [ -z "${BORG_DEMO_CODE_SERVER:-}" ]; then
  sample
  code --install-extension "$ROOT/borg-pipeline.vsix" --force
  code "$WS" || true
  log "installed into your VS Code and opened $WS: in the Borg view run 'Borg: Add Task' ($TITLE);"
  log "the agents run the real Claude CLI (borg-agent-claude:latest) against a replayed, scripted model."
  exit 0
fi

CS=$ROOT/.vscode-test/code-server/node_modules/.bin/code-server
stop_code_server() {
  if [ -f "$DEMO/code-server.pid" ] && kill -0 "$(cat "$DEMO/code-server.pid")" 2>/dev/null; then
    kill "$(cat "$DEMO/code-server.pid")" || true
    for _ in $(seq 1 50); do kill -0 "$(cat "$DEMO/code-server.pid")" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$DEMO/code-server.pid"
}
start_code_server() {
  setsid nohup "$CS" --config "$DEMO/config.yaml" --user-data-dir "$DEMO/user" --extensions-dir "$DEMO/extensions" \
    --disable-telemetry --disable-update-check --disable-workspace-trust "$WS" >>"$DEMO/code-server.log" 2>&1 </dev/null &
  echo $! >"$DEMO/code-server.pid"
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
}

# A fresh demo every run: the previous server, its agents' containers (this workspace's label
# only), Borg's home for the demo and the sample repository go.
stop_code_server
ID=$(workspace_id)
old=$(docker ps -aq --filter "label=borg.workspace=$ID")
[ -z "$old" ] || { docker rm -f $old >/dev/null; log "removed the previous demo's containers"; }
rm -rf "$WS" "$DEMO/borg-home" "$DEMO"/*.png
sample

cat >"$DEMO/config.yaml" <<YAML
bind-addr: 127.0.0.1:$PORT
auth: none
cert: false
YAML
mkdir -p "$DEMO/user/User"
[ -f "$DEMO/user/User/settings.json" ] || printf '{\n  "workbench.startupEditor": "none",\n  "workbench.colorTheme": "Default Dark Modern"\n}\n' >"$DEMO/user/User/settings.json"
export XDG_CONFIG_HOME=$DEMO/xdg-config XDG_DATA_HOME=$DEMO/xdg-data XDG_CACHE_HOME=$DEMO/xdg-cache
export BORG_HOME=$DEMO/borg-home
export EXTENSIONS_GALLERY='{"serviceUrl":""}'
: >"$DEMO/code-server.log"
"$CS" --extensions-dir "$DEMO/extensions" --install-extension "$ROOT/borg-pipeline.vsix" --force >/dev/null
start_code_server
URL="http://127.0.0.1:$PORT/?folder=$WS"

# Add a task the way a person would (Borg view → palette → Add Task → draft → ✓), wait for done.
T1=$SECONDS
log "adding the task '$TITLE' through the UI; the agents run the real Claude CLI against the replayed recording"
if node scripts/ui.mjs --url "$URL" --add-task "$TITLE" --description "$DESCRIPTION" --wait-task-status done --timeout 900 \
  --screenshot "$DEMO/tasks.png" --task-detail "$DEMO/task-detail.png"; then
  log "task done in $((SECONDS - T1)) s; screenshots $DEMO/tasks.png and $DEMO/task-detail.png"
  BRANCH=$(git -C "$WS" for-each-ref --format='%(refname:short)' 'refs/heads/borg/task-*' | head -1)
  [ -z "$BRANCH" ] || git -C "$WS" log --format='  %h %s' "main..$BRANCH"
else
  log "the task did not get to done (see the screenshots in $DEMO and $DEMO/code-server.log)"
fi

# The headless window's extension host would keep the Borg database for minutes: restart the
# server so the window you open is the one that holds it.
stop_code_server
start_code_server
log "code-server is running (pid $(cat "$DEMO/code-server.pid"), log $DEMO/code-server.log); total $((SECONDS - T0)) s"
log "open $URL — the Tasks view shows the task done; stop it with: kill \$(cat $DEMO/code-server.pid)"
