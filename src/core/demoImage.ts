import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import * as tar from 'tar-stream';
import { BorgError } from './errors';
import type { DockerEngine } from './engine';

/** The demo agent image the project builds offline; the default `borg.agentImage`. */
export const DEMO_IMAGE = 'borg-agent-demo:latest';

/** Static busybox from Debian's busybox-static: the whole userland of the demo image. */
const BUSYBOX = '/bin/busybox';

/** Label that records which version of the agent script an image holds, so a changed script rebuilds it. */
const HASH_LABEL = 'borg.demo.hash';

/**
 * The demo agent (busybox sh). Reads one JSON object on stdin, prints NDJSON in the shape of
 * Claude Code's `--output-format stream-json` (system init, assistant progress, result), sleeps
 * and exits. Input fields: `sleepSeconds` (default $BORG_DEMO_SLEEP or 60), `exitCode` (default 0),
 * `mode`: "oom" (allocates until the memory limit kills it; refuses without a limit) or
 * "ignore-term" (ignores SIGTERM and its deadline, for watchdog tests). Appends one line per run to
 * `runs.log` in its state dir. With `BORG_TIMEOUT_SECONDS` (the watchdog's budget, counted from
 * its own start: right also after a hardline restarts it) or `BORG_DEADLINE_EPOCH` (whole seconds
 * since the epoch; the earlier of the two wins) in its environment it checks the clock before every second of work: once the deadline has passed it
 * prints `[borg-agent] deadline reached` and an error result, and exits 124 (timeout(1)'s code),
 * also when no Borg process follows it any more. An input with `git` (borg.docker.worktrees git)
 * gets an error result "this image cannot reach a git remote" and exit 2 at once: busybox has no git.
 */
export const DEMO_AGENT_SCRIPT = `#!/bin/sh
# As PID 1 the shell ignores SIGTERM unless trapped: trap it before blocking on stdin.
trap 'exit 143' TERM
input=''
IFS= read -r input || true
num() { printf '%s' "$input" | sed -n "s/.*\\"$1\\"[[:space:]]*:[[:space:]]*\\(-\\{0,1\\}[0-9][0-9]*\\).*/\\1/p"; }
str() { printf '%s' "$input" | sed -n "s/.*\\"$1\\"[[:space:]]*:[[:space:]]*\\"\\([^\\"]*\\)\\".*/\\1/p"; }
# borg.docker.worktrees git: this image has no git, so it cannot clone the task; say so and fail.
case "$input" in *'"git":{'*|*'"git": {'*) echo '{"type":"result","subtype":"error_during_execution","is_error":true,"result":"borg: this image cannot reach a git remote (the demo image has no git); borg.docker.worktrees git needs an image with git, such as borg-agent-claude:latest"}'; exit 2 ;; esac
task=$(num taskId)
phase=$(str phase)
repo=/workspace/repo
default_sleep=\${BORG_DEMO_SLEEP:-60}; [ -n "$phase" ] && default_sleep=1
sleep_s=$(num sleepSeconds); [ -n "$sleep_s" ] || sleep_s=$default_sleep
code=$(num exitCode); [ -n "$code" ] || code=0
mode=$(str mode)
deadline=\${BORG_DEADLINE_EPOCH:-}
case "$deadline" in *[!0-9]*) echo "[borg-agent] ignoring BORG_DEADLINE_EPOCH=$deadline (expected whole seconds since the epoch)" >&2; deadline='' ;; esac
# BORG_TIMEOUT_SECONDS counts from this start (right after a hardline too); the earlier deadline wins.
budget=\${BORG_TIMEOUT_SECONDS:-0}
case "$budget" in ''|*[!0-9]*) budget=0 ;; esac
if [ "$budget" -gt 0 ]; then own=$(( $(date +%s) + budget )); if [ -z "$deadline" ] || [ "$own" -lt "$deadline" ]; then deadline=$own; fi; fi
persona=\${BORG_PERSONA:-agent}
session="demo-$(hostname)-$$"
state=/home/agent/state
[ -d "$state" ] && echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) start $persona" >> "$state/runs.log"
# ignore-term plays a broken agent: it ignores SIGTERM and its own deadline (only the watchdog's kill ends it).
if [ "$mode" = "ignore-term" ]; then trap '' TERM; deadline=''; else trap 'echo "{\\"type\\":\\"result\\",\\"subtype\\":\\"error_during_execution\\",\\"is_error\\":true,\\"result\\":\\"stopped\\",\\"session_id\\":\\"$session\\"}"; exit 143' TERM; fi
echo "{\\"type\\":\\"system\\",\\"subtype\\":\\"init\\",\\"session_id\\":\\"$session\\",\\"persona\\":\\"$persona\\"}"
check_deadline() {
  [ -n "$deadline" ] || return 0
  [ "$(date +%s)" -ge "$deadline" ] || return 0
  echo "[borg-agent] deadline reached"
  echo "{\\"type\\":\\"result\\",\\"subtype\\":\\"error_during_execution\\",\\"is_error\\":true,\\"result\\":\\"deadline reached\\",\\"session_id\\":\\"$session\\"}"
  exit 124
}
if [ "$mode" = "oom" ]; then
  limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || echo max)
  case "$limit" in max|9223372036854771712|'') echo '{"type":"result","is_error":true,"result":"oom mode needs a memory limit"}'; exit 2;; esac
  s=xxxxxxxxxxxxxxxx; while :; do s="$s$s"; done
fi
i=0
while [ "$i" -lt "$sleep_s" ]; do
  check_deadline
  i=$((i + 1))
  echo "{\\"type\\":\\"assistant\\",\\"session_id\\":\\"$session\\",\\"message\\":{\\"role\\":\\"assistant\\",\\"content\\":[{\\"type\\":\\"text\\",\\"text\\":\\"working $i/$sleep_s\\"}]}}"
  sleep 1
done
check_deadline
# Task phases: manager writes spec.md, qa adds a failing test, worker makes it pass (unless the
# task text asks it not to with [demo:worker-fails]).
if [ -n "$phase" ] && [ -n "$task" ] && [ -d "$repo" ]; then
  case "$phase" in
    spec) printf '# Spec for task %s\\n\\nThe file done/task-%s must exist and say ok.\\n' "$task" "$task" > "$repo/spec.md" ;;
    qa) mkdir -p "$repo/tests" && printf '#!/bin/sh\\ngrep -qx ok done/task-%s 2>/dev/null || { echo "task %s: done/task-%s is missing"; exit 1; }\\n' "$task" "$task" "$task" > "$repo/tests/task-$task.sh" ;;
    impl) case "$input" in *'[demo:worker-fails]'*) ;; *) mkdir -p "$repo/done" && echo ok > "$repo/done/task-$task" ;; esac ;;
  esac
fi
if [ "$code" = 0 ]; then
  echo "{\\"type\\":\\"result\\",\\"subtype\\":\\"success\\",\\"is_error\\":false,\\"result\\":\\"done\\",\\"session_id\\":\\"$session\\",\\"total_cost_usd\\":0}"
else
  echo "{\\"type\\":\\"result\\",\\"subtype\\":\\"error_during_execution\\",\\"is_error\\":true,\\"result\\":\\"failed with $code\\",\\"session_id\\":\\"$session\\",\\"total_cost_usd\\":0}" >&2
fi
exit "$code"
`;

/**
 * Builds {@link DEMO_IMAGE} offline: a root filesystem with a static busybox, its applet links
 * and the agent script, streamed as a tar into `docker import` through dockerode. Skips the
 * build when the image already holds this version of the script (unless `force`).
 * @returns true when it built, false when the image was current.
 * @throws BorgError when busybox-static is not installed or the import fails.
 */
export async function buildDemoImage(engine: DockerEngine, opts: { force?: boolean; tag?: string } = {}): Promise<boolean> {
  const ref = opts.tag ?? DEMO_IMAGE;
  const hash = createHash('sha256').update(DEMO_AGENT_SCRIPT).digest('hex').slice(0, 16);
  if (!opts.force && (await currentHash(engine, ref)) === hash) return false;
  if (!fs.existsSync(BUSYBOX)) {
    throw new BorgError(`${BUSYBOX} is missing: install Debian's busybox-static (apt-get install busybox-static) to build the demo image.`);
  }
  const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  const pack = tar.pack();
  const dir = (name: string, mode = 0o755) => pack.entry({ name, type: 'directory', mode });
  dir('bin');
  dir('tmp', 0o1777);
  dir('home');
  dir('home/agent');
  dir('home/agent/state', 0o700);
  pack.entry({ name: 'bin/busybox', mode: 0o755 }, fs.readFileSync(BUSYBOX));
  for (const a of applets) pack.entry({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' });
  pack.entry({ name: 'agent', mode: 0o755 }, DEMO_AGENT_SCRIPT);
  pack.finalize();
  const [repo, tag = 'latest'] = splitRef(ref);
  await engine.importImage(pack as unknown as NodeJS.ReadableStream as never, repo, tag, ['ENTRYPOINT ["/bin/sh", "/agent"]', 'ENV PATH=/bin', 'WORKDIR /home/agent', `LABEL ${HASH_LABEL}=${hash}`]);
  return true;
}

async function currentHash(engine: DockerEngine, ref: string): Promise<string | undefined> {
  return (await engine.imageLabels(ref))?.[HASH_LABEL];
}

function splitRef(ref: string): [string, string | undefined] {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return colon > slash ? [ref.slice(0, colon), ref.slice(colon + 1)] : [ref, undefined];
}
