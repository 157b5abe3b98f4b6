#!/usr/bin/env node
// borg-agent: the entrypoint of the Claude Code agent image (installed as /usr/local/bin/borg-agent).
//
// Protocol: stdin carries ONE JSON object, then EOF:
//   {taskId, phase, persona, prompt, systemPrompt, model, allowedTools, workdir,
//    resumeSessionId, secrets: {ANTHROPIC_API_KEY, ...}, gateway: {token}}   (all optional except prompt)
// It runs `claude --print --output-format stream-json --verbose [...]` with the prompt on the
// child's stdin, passes stdout/stderr through unchanged and exits with the child's code.
// Secrets go only into the child's environment and are never printed. Input that is not a JSON
// object with a prompt gives one stream-json result line ("borg: invalid input: ...") and exit 2.
// Deadline: the input's "deadline" (ISO-8601, sent again on every start), else BORG_TIMEOUT_SECONDS
// after this start, else BORG_DEADLINE_EPOCH (whole seconds since the epoch), else BORG_DEADLINE
// (ISO-8601). At the deadline claude gets SIGTERM, SIGKILL 10 s later,
// and the entrypoint exits 124 (timeout(1)'s code) with a note on stderr — also when no Borg
// process follows the container any more.
// Model gateway: when BORG_GATEWAY_SOCKET names a UNIX socket (the host's gateway, bind-mounted
// read-only; the container has no network), a TCP forwarder on 127.0.0.1:<random port> pipes each
// connection to a new connection on that socket (retrying ENOENT/ECONNREFUSED every 250 ms for up
// to 30 s while the gateway restarts), and claude gets ANTHROPIC_BASE_URL and HTTP(S)_PROXY
// pointing at it, the input's gateway.token as ANTHROPIC_API_KEY, NO_PROXY for loopback,
// CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 and CLAUDE_CODE_MAX_RETRIES=0 (over secrets and env).
// Git transport: when the input has "git": {url, branch, commit} (borg.docker.worktrees: git; no
// worktree is mounted), it clones url at branch into workdir (--single-branch, no tags, no
// submodules), checks HEAD is commit, runs claude there, then commits what changed and pushes
// HEAD to refs/heads/<branch> (never forced); a failed clone or push is a result line and exit 1.
//
// Plain CommonJS for the image's Node 18 (Debian bookworm's nodejs); no dependencies.
'use strict';

const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

/** Where Borg mounts the agent's state folder; HOME points here so Claude's history persists. */
const STATE_DIR = '/home/agent/state';
/** The default working directory when the input names none and it exists. */
const DEFAULT_REPO = '/workspace/repo';
/** Secret names passed to the child (e.g. ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN). */
const SECRET_NAME = /^(ANTHROPIC|CLAUDE)_[A-Z0-9_]*$/;
/** Overridable for tests; default: `claude` on PATH (/usr/local/bin/claude in the image). */
const CLAUDE = process.env.BORG_CLAUDE_BIN || 'claude';
/** Exit code at the deadline: the one timeout(1) uses. */
const DEADLINE_EXIT = 124;
/** When this process started (ms since the epoch): BORG_TIMEOUT_SECONDS counts from here. */
const STARTED_AT = Date.now();
/** Between SIGTERM and SIGKILL of claude at the deadline. */
const DEADLINE_KILL_GRACE_MS = 10_000;
/** setTimeout's longest delay (2^31 - 1 ms, ≈ 24.8 days); longer waits are chained. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The host gateway's UNIX socket (bind-mounted read-only); unset or empty: no gateway. */
const GATEWAY_SOCKET = process.env.BORG_GATEWAY_SOCKET || '';
/** Between attempts to reach a gateway socket that is missing or refuses (the host's gateway restarting). */
const GATEWAY_RETRY_MS = 250;
/** How long one connection waits for the gateway socket before it is dropped. */
const GATEWAY_RECONNECT_MS = 30_000;
/** Socket errors that mean "the gateway is not there (yet)": retried. Any other error drops the connection at once. */
const GATEWAY_RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED']);

/** Prints one stream-json result line and exits with `code`. */
function fail(code, message) {
  const line = JSON.stringify({ type: 'result', subtype: 'error_during_execution', is_error: true, result: `borg: ${message}` });
  process.stdout.write(line + '\n', () => process.exit(code));
}

function warn(message) {
  process.stderr.write(`borg-agent: ${message}\n`);
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (c) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

/** Validates the input object; returns an error message or undefined. */
function problem(input) {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return 'expected one JSON object';
  if (typeof input.prompt !== 'string' || input.prompt.trim() === '') return '"prompt" must be a non-empty string';
  for (const k of ['systemPrompt', 'model', 'workdir', 'resumeSessionId', 'persona', 'phase', 'deadline']) {
    if (input[k] != null && typeof input[k] !== 'string') return `"${k}" must be a string`;
  }
  if (input.taskId != null && typeof input.taskId !== 'string' && typeof input.taskId !== 'number') return '"taskId" must be a string or a number';
  const t = input.allowedTools;
  if (t != null && typeof t !== 'string' && !(Array.isArray(t) && t.every((x) => typeof x === 'string'))) {
    return '"allowedTools" must be a string or an array of strings';
  }
  const s = input.secrets;
  if (s != null) {
    if (typeof s !== 'object' || Array.isArray(s)) return '"secrets" must be an object';
    for (const [k, v] of Object.entries(s)) if (typeof v !== 'string') return `secret "${k}" must be a string`;
  }
  const r = input.git;
  if (r != null) {
    if (typeof r !== 'object' || Array.isArray(r)) return '"git" must be an object';
    if (typeof r.url !== 'string' || r.url === '' || r.url.startsWith('-') || /::/.test(r.url.split('/')[0])) return '"git.url" must be a git URL';
    if (typeof r.branch !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(r.branch) || r.branch.includes('..') || r.branch.endsWith('.lock')) return '"git.branch" must be a branch name';
    if (typeof r.commit !== 'string' || !/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(r.commit)) return '"git.commit" must be a full commit id';
  }
  const g = input.gateway;
  if (g != null) {
    if (typeof g !== 'object' || Array.isArray(g)) return '"gateway" must be an object';
    if (typeof g.token !== 'string' || g.token === '') return '"gateway.token" must be a non-empty string';
  }
  return undefined;
}

/**
 * The deadline in ms since the epoch, or undefined for none: the input's `deadline` (ISO-8601,
 * sent fresh with every start), else BORG_TIMEOUT_SECONDS after this process started, else
 * BORG_DEADLINE_EPOCH (digits), else BORG_DEADLINE (ISO-8601). A value that cannot be read is warned about and ignored.
 */
function readDeadline(fromInput) {
  // The input is sent again on every start (a hardline too), so its deadline is always this run's.
  if (typeof fromInput === 'string' && Number.isFinite(Date.parse(fromInput))) return Date.parse(fromInput);
  // BORG_TIMEOUT_SECONDS: the watchdog's budget, counted from this start.
  const budget = (process.env.BORG_TIMEOUT_SECONDS || '').trim();
  if (/^\d+$/.test(budget) && Number(budget) > 0) return STARTED_AT + Number(budget) * 1000;
  const epoch = (process.env.BORG_DEADLINE_EPOCH || '').trim();
  if (epoch) {
    if (/^\d+$/.test(epoch)) return Number(epoch) * 1000;
    warn(`ignoring BORG_DEADLINE_EPOCH="${epoch}": expected whole seconds since the epoch`);
  }
  for (const [name, value] of [['BORG_DEADLINE', process.env.BORG_DEADLINE], ['the input\'s "deadline"', fromInput]]) {
    if (typeof value !== 'string' || value.trim() === '') continue;
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms;
    warn(`ignoring ${name}="${value}": expected an ISO-8601 time such as 2030-01-01T00:00:00Z`);
  }
  return undefined;
}

/** Calls `fn` at `atMs` (ms since the epoch), chaining timers past setTimeout's limit. */
function at(atMs, fn) {
  const left = atMs - Date.now();
  if (left <= 0) return void setImmediate(fn);
  setTimeout(() => at(atMs, fn), Math.min(left, MAX_TIMER_MS));
}

/** The deadline passed: say so, end claude (SIGTERM, SIGKILL after the grace) and exit 124 once it ended. */
function deadlineReached(deadlineMs) {
  deadlinePassed = true;
  const when = new Date(deadlineMs).toISOString();
  const child = running;
  if (!child || child.exitCode !== null || child.signalCode !== null) {
    warn(`deadline ${when} reached before claude ran; exiting ${DEADLINE_EXIT}`);
    return process.exit(DEADLINE_EXIT);
  }
  warn(`deadline ${when} reached: stopping claude (SIGTERM, SIGKILL in ${DEADLINE_KILL_GRACE_MS / 1000} s); exiting ${DEADLINE_EXIT}`);
  child.kill('SIGTERM');
  setTimeout(() => child.kill('SIGKILL'), DEADLINE_KILL_GRACE_MS).unref();
}

function isDir(p) {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function usable(p) {
  try {
    fs.accessSync(p, fs.constants.W_OK | fs.constants.X_OK);
    return isDir(p);
  } catch {
    return false;
  }
}

/** HOME must be writable (Claude keeps its config and sessions there); falls back to a temp dir. */
function chooseHome() {
  const wanted = process.env.HOME && process.env.HOME !== '/' ? process.env.HOME : STATE_DIR;
  try {
    fs.mkdirSync(wanted, { recursive: true });
  } catch {
    /* checked below */
  }
  if (usable(wanted)) return wanted;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-home-'));
  const uid = typeof process.getuid === 'function' ? process.getuid() : '?';
  warn(`${wanted} is not writable by uid ${uid}; using ${tmp} as HOME, so this session cannot be resumed later. Run the container as the owner of the state folder, or make it writable for uid ${uid}.`);
  return tmp;
}

/**
 * Pipes one accepted connection (paused since accept, so no byte is read before there is somewhere
 * to put it) to a new connection on the gateway socket. A missing or refusing socket is retried
 * every GATEWAY_RETRY_MS for up to GATEWAY_RECONNECT_MS; then, or on any other error, the client
 * connection is destroyed. Both sides allow half-open connections, so a client that ends its
 * request still gets the whole (streamed) response, and vice versa.
 */
function forward(client, socketPath) {
  client.setNoDelay(true);
  const giveUpAt = Date.now() + GATEWAY_RECONNECT_MS;
  let retry;
  let upstream;
  let gone = false;
  client.on('error', () => undefined); // 'close' follows and ends the other side
  client.on('close', (hadError) => {
    gone = true;
    clearTimeout(retry);
    // A clean close means both directions ended through the pipes; anything else cuts the other side too.
    if (upstream && (hadError || !upstream.writableEnded)) upstream.destroy();
  });
  const attempt = () => {
    if (gone) return;
    const up = net.connect({ path: socketPath, allowHalfOpen: true });
    upstream = up;
    const failed = (e) => {
      up.destroy();
      if (gone) return;
      if (GATEWAY_RETRYABLE.has(e.code) && Date.now() + GATEWAY_RETRY_MS <= giveUpAt) {
        retry = setTimeout(attempt, GATEWAY_RETRY_MS);
        return;
      }
      const why = GATEWAY_RETRYABLE.has(e.code) ? `still ${e.code} after ${GATEWAY_RECONNECT_MS / 1000} s` : e.message;
      warn(`model gateway ${socketPath}: ${why}; dropping a connection`);
      client.destroy();
    };
    up.once('error', failed);
    up.once('connect', () => {
      up.removeListener('error', failed);
      up.on('error', () => undefined); // 'close' follows
      up.on('close', (hadError) => {
        if (hadError || !client.writableEnded) client.destroy();
      });
      up.setNoDelay(true); // a no-op on a UNIX socket; kept in case the gateway moves to TCP
      if (gone) return void up.destroy();
      up.pipe(client);
      client.pipe(up); // resumes the client: what it sent meanwhile waited in its socket
    });
  };
  attempt();
}

/** Starts the forwarder on 127.0.0.1 (a random port); resolves to the port. */
function startForwarder(socketPath) {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => forward(client, socketPath));
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.removeListener('error', reject);
      server.on('error', (e) => warn(`model gateway forwarder: ${e.message}`));
      resolve(server.address().port);
    });
  });
}

/** `git config --global --add safe.directory '*'` once per HOME; env-only fallback when that fails. */
function trustAllRepos(env) {
  const have = spawnSync('git', ['config', '--global', '--get-all', 'safe.directory'], { env, encoding: 'utf8' });
  if (have.error) return; // no git in this image
  if (have.status === 0 && have.stdout.split('\n').includes('*')) return;
  const add = spawnSync('git', ['config', '--global', '--add', 'safe.directory', '*'], { env, encoding: 'utf8' });
  if (add.status !== 0) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'safe.directory';
    env.GIT_CONFIG_VALUE_0 = '*';
  }
}

/** Only these transports, for every git call of the git transport (git-config(1) protocol.allow). */
const GIT_PROTOCOLS = ['-c', 'protocol.allow=never', '-c', 'protocol.file.allow=always', '-c', 'protocol.https.allow=always', '-c', 'protocol.ssh.allow=always'];
/** The identity of the commit borg-agent makes of what changed. */
const GIT_IDENTITY = ['-c', 'user.name=Borg agent', '-c', 'user.email=agent@borg.invalid'];

/** Runs git; returns undefined on success, else its stderr's last lines. */
function git(args, cwd, env) {
  const r = spawnSync('git', [...GIT_PROTOCOLS, ...args], { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return `git: ${r.error.message}`;
  if (r.status !== 0) return (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-5).join(' / ');
  return undefined;
}

/** Clones the task branch into `dir` (which must be missing or empty) and checks it is the commit Borg pushed. Returns an error or undefined. */
function cloneTask(g, dir, env) {
  if (isDir(dir) && fs.readdirSync(dir).length > 0) return `cannot clone the task into ${dir}: it is not empty`;
  const failed = git(['clone', '--quiet', '--no-tags', '--single-branch', '--no-recurse-submodules', '--branch', g.branch, '--', g.url, dir], '/', env);
  if (failed) return `cannot clone ${g.branch} from the git remote: ${failed}`;
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: dir, env, encoding: 'utf8' });
  if ((head.stdout || '').trim() !== g.commit) return `${g.branch} on the git remote is ${(head.stdout || '?').trim()}, not ${g.commit} (the commit Borg pushed)`;
  return undefined;
}

/** Commits what changed in `dir` (when anything did) and pushes HEAD to refs/heads/<branch>, never forced. Returns an error or undefined. */
function pushTask(input, dir, env) {
  const g = input.git;
  let failed = git(['add', '-A'], dir, env);
  if (failed) return `git add failed: ${failed}`;
  const changed = spawnSync('git', ['diff', '--cached', '--quiet'], { cwd: dir, env }).status !== 0;
  if (changed) {
    const what = [input.taskId != null ? `task ${input.taskId}` : '', input.phase || '', input.persona ? `(${input.persona})` : ''].filter(Boolean).join(' ');
    failed = git([...GIT_IDENTITY, 'commit', '--quiet', '--no-verify', '-m', `borg-agent: ${what || 'work'}`], dir, env);
    if (failed) return `git commit failed: ${failed}`;
  }
  failed = git(['push', '--quiet', '--no-verify', '--', g.url, `HEAD:refs/heads/${g.branch}`], dir, env);
  if (failed) return `cannot push ${g.branch} to the git remote: ${failed}`;
  return undefined;
}

async function main() {
  // The environment's deadline holds from the start (also while stdin is still being read).
  const envDeadline = readDeadline(undefined);
  if (envDeadline !== undefined) at(envDeadline, () => deadlineReached(envDeadline));
  let text;
  try {
    text = await readStdin();
  } catch (e) {
    return fail(2, `invalid input: cannot read stdin: ${e.message}`);
  }
  if (text.trim() === '') return fail(2, 'invalid input: nothing on stdin (expected one JSON object)');
  let input;
  try {
    input = JSON.parse(text);
  } catch (e) {
    return fail(2, `invalid input: ${e.message}`);
  }
  const bad = problem(input);
  if (bad) return fail(2, `invalid input: ${bad}`);
  if (envDeadline === undefined) {
    const inputDeadline = readDeadline(input.deadline);
    if (inputDeadline !== undefined) at(inputDeadline, () => deadlineReached(inputDeadline));
  }

  const home = chooseHome();
  const env = { ...process.env, HOME: home };
  for (const [k, v] of Object.entries(input.secrets || {})) {
    if (SECRET_NAME.test(k)) env[k] = v;
    else warn(`ignoring secret "${k}": only ANTHROPIC_* and CLAUDE_* names are passed to claude`);
  }
  if (input.taskId != null) env.BORG_TASK_ID = String(input.taskId);
  if (input.phase) env.BORG_PHASE = input.phase;
  if (input.persona && !env.BORG_PERSONA) env.BORG_PERSONA = input.persona;

  let cwd;
  if (input.git) {
    cwd = input.workdir || DEFAULT_REPO; // cloned below, once the environment (proxy included) is set
  } else if (input.workdir) {
    if (!isDir(input.workdir)) return fail(2, `invalid input: workdir ${input.workdir} is not a directory`);
    cwd = input.workdir;
  } else {
    cwd = isDir(DEFAULT_REPO) ? DEFAULT_REPO : [STATE_DIR, home].find(usable) || home;
  }

  trustAllRepos(env);

  if (GATEWAY_SOCKET) {
    const dir = path.dirname(GATEWAY_SOCKET);
    if (!isDir(dir)) {
      warn(`BORG_GATEWAY_SOCKET=${GATEWAY_SOCKET}: ${dir} does not exist (the gateway folder is not mounted); running claude without the model gateway`);
    } else {
      let port;
      try {
        port = await startForwarder(GATEWAY_SOCKET);
      } catch (e) {
        return fail(1, `cannot start the model gateway forwarder on 127.0.0.1: ${e.message}`);
      }
      const url = `http://127.0.0.1:${port}`;
      Object.assign(env, {
        ANTHROPIC_BASE_URL: url,
        HTTPS_PROXY: url,
        HTTP_PROXY: url,
        NO_PROXY: '127.0.0.1,localhost',
        // Lower-case twins, which curl, git and others read first: the same values, so none points elsewhere.
        https_proxy: url,
        http_proxy: url,
        no_proxy: '127.0.0.1,localhost',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        // The gateway decides about retries; the CLI must not retry behind it.
        CLAUDE_CODE_MAX_RETRIES: '0',
      });
      if (input.gateway) env.ANTHROPIC_API_KEY = input.gateway.token;
    }
  }

  if (input.git) {
    const why = cloneTask(input.git, cwd, env);
    if (why) return fail(1, why);
  }

  const args = ['--print', '--output-format', 'stream-json', '--verbose'];
  if (input.model) args.push('--model', input.model);
  const tools = Array.isArray(input.allowedTools) ? input.allowedTools.join(',') : input.allowedTools;
  if (tools) args.push('--allowedTools', tools);
  if (input.systemPrompt) args.push('--append-system-prompt', input.systemPrompt);
  if (input.resumeSessionId) args.push('--resume', input.resumeSessionId);

  const child = spawn(CLAUDE, args, { cwd, env, stdio: ['pipe', 'inherit', 'inherit'] });
  running = child;
  let spawnFailed = false;
  child.on('error', (e) => {
    if (child.pid !== undefined) return warn(`${CLAUDE}: ${e.message}`);
    spawnFailed = true;
    fail(127, `cannot run ${CLAUDE}: ${e.message}`);
  });
  child.stdin.on('error', () => undefined); // claude may exit before reading all of the prompt
  child.stdin.end(input.prompt);
  child.on('exit', (code, signal) => {
    if (spawnFailed) return;
    if (deadlinePassed) process.exit(DEADLINE_EXIT);
    const exit = code !== null ? code : 128 + (os.constants.signals[signal] || 1);
    if (input.git) {
      const why = pushTask(input, cwd, env);
      if (why) return fail(exit || 1, why);
    }
    process.exit(exit);
  });
}

// As PID 1 nothing ends us by default: stop signals end us before claude runs, and are handed to
// claude once it does (we exit when it exits).
let running;
/** Set once the deadline passed: claude's exit then becomes exit 124. */
let deadlinePassed = false;
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  process.on(sig, () => {
    if (running && running.exitCode === null && running.signalCode === null) running.kill(sig);
    else if (!running) process.exit(128 + os.constants.signals[sig]);
  });
}

main().catch((e) => fail(1, `internal error: ${e && e.stack ? e.stack : e}`));
