import { parseArgs, ParseArgsConfig } from 'node:util';
import { buildDemoImage, DEMO_IMAGE } from '../core/demoImage';
import { DockerEngine } from '../core/engine';
import { BorgError } from '../core/errors';
import { Pipeline } from '../core/pipeline';
import { Store } from '../core/store';
import { needsInspect, stateWords } from '../core/verbs';
import { CliIo, gatewaySettings, lockForCommand, makeRuntime, Opts, pipelineSettings, resolvePaths, UsageError } from './common';
import { runCmd } from './run';
import { tasksCmd } from './tasks';

export type { CliIo } from './common';

const USAGE = `usage: borg <command> [options]

agents:
  launch <persona> [--image I] [--input JSON] [--json] [limits]
                                                         launch an agent (prints name and id)
  ls [--json]                                            list Borg's containers
  hardline <name>                                        restart a crashed agent, attach its output
  reclaim <name> [--image I] [--json] [limits]           fresh agent under a cleanly exited name
  rm <name> [--keep-state]                               remove a stopped agent (and its state dir)
  image build-demo [--force]                             build the offline demo agent image

tasks (spec → qa → impl → test, one git worktree and branch borg/task-<id> each):
  tasks add --repo PATH --title T [--description D] [--max-attempts N] [--json]
                                 queue a task on the git repository holding PATH (prints its id,
                                 or the task as JSON); handed to a running "borg run" if there is one
  tasks ls [--json]              id, status, phase, attempt n/m, title
  tasks show <id> [--json]       a task and the timeline of its runs
  run [--until-idle] [--max-agents N] [--image I] [--test-command CMD] [--max-attempts N]
      [--test-image I] [--test-network none|bridge] [--worktree-transport mount|git --git-remote URL]
      [limits]
                                 run the scheduler in the foreground: recover, then dispatch; one
                                 line per task change (a live table on a terminal). One run per
                                 database (lock file <db>.lock). Ctrl+C/SIGTERM: stop dispatching,
                                 detach running agents, write the database; exit 130/143.
                                 --until-idle: stop once no task is ready or running; exit 0 when
                                 every task it ran is done (or cancelled), 1 when one failed or is
                                 blocked. Blocked tasks are tried again when a run starts.
                                 --test-command runs with /bin/sh -c in a confined test container
                                 (--test-image, default the agent image; --test-network, default
                                 none) on the task's worktree, never on the host (none: the test
                                 phase is skipped). --max-attempts applies to every unfinished task.
                                 --worktree-transport git: nothing of this machine is mounted; each
                                 phase pushes borg/task-<id> to --git-remote (ssh://, user@host:path,
                                 https://, file:///abs or /abs), the agent clones it and pushes
                                 back, Borg takes it only when it descends from what it pushed.

limits (every container Borg creates; no capabilities, no-new-privileges, never root):
  --pids-limit N (512)  --memory-mb N (4096, no swap)  --cpus N (2)
  --network gateway|bridge|none (gateway: agents reach only Borg's model gateway; bridge: Docker's
                                 network too; none: nothing, no model)

model gateway (launch, reclaim, hardline, run; the key stays in this process, agents get a token):
  --model-upstream URL|replay:FILE  where model requests go (https://api.anthropic.com); replay:FILE
                                    serves a recording instead of a model
  --gateway-record FILE             append every model exchange to FILE (request bodies included)
  --max-cost-usd-per-task N (5)     past it, the task's next request is refused: blocked "budget"
  --max-cost-usd-per-day N (50)     the same for all runs since local midnight (0: no cap)
  --egress-allow HOST,...           hosts agents may reach through the gateway's CONNECT proxy
                                    (example.com, *.example.com, .example.com, host:port)

global options:
  --db PATH          database file (default <home>/borg.sqlite)
  --state-dir PATH   root of the per-name state dirs (default <home>/agents)
  --worktrees PATH   where task worktrees go (default <home>/worktrees)
  --prompts PATH     built-in persona prompts (default: media/prompts of this install);
                     a repository's .borg/prompts/ wins over them
  --prefix P         container name prefix (default borg)
  --workspace PATH   workspace the agents belong to (default: the current folder); verbs refuse
                     another workspace's agents
  <home> is the workspace's home, <BORG_HOME or ~/.borg>/workspaces/<workspace id>/, shared with
  the VS Code extension on the same folder (one writer at a time: <db>.lock)

Docker is reached through DOCKER_HOST (tcp:// uses TLS with DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)
or the local socket. ANTHROPIC_API_KEY, when set, is the key the gateway sends the model; it never
enters a container (agents get a per-run token on stdin, worthless outside the gateway).
exit codes: 0 ok, 1 refused (reason on stderr), 2 usage; borg run: see above`;

const GLOBAL = ['state-dir', 'prefix', 'db', 'workspace', 'worktrees', 'prompts', 'help'];

const OPTIONS: ParseArgsConfig['options'] = {
  'state-dir': { type: 'string' },
  prefix: { type: 'string' },
  db: { type: 'string' },
  workspace: { type: 'string' },
  worktrees: { type: 'string' },
  prompts: { type: 'string' },
  image: { type: 'string' },
  input: { type: 'string' },
  json: { type: 'boolean' },
  'keep-state': { type: 'boolean' },
  force: { type: 'boolean' },
  repo: { type: 'string' },
  title: { type: 'string' },
  description: { type: 'string' },
  'until-idle': { type: 'boolean' },
  'max-agents': { type: 'string' },
  'test-command': { type: 'string' },
  'max-attempts': { type: 'string' },
  'pids-limit': { type: 'string' },
  'memory-mb': { type: 'string' },
  cpus: { type: 'string' },
  network: { type: 'string' },
  'test-image': { type: 'string' },
  'test-network': { type: 'string' },
  'worktree-transport': { type: 'string' },
  'git-remote': { type: 'string' },
  'model-upstream': { type: 'string' },
  'gateway-record': { type: 'string' },
  'egress-allow': { type: 'string' },
  'max-cost-usd-per-task': { type: 'string' },
  'max-cost-usd-per-day': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

/** The confinement flags of every command that creates containers (see core/hardening.ts). */
const GATEWAY_OPTIONS = ['model-upstream', 'gateway-record', 'egress-allow', 'max-cost-usd-per-task', 'max-cost-usd-per-day'];
const LIMIT_OPTIONS = ['pids-limit', 'memory-mb', 'cpus', 'network', ...GATEWAY_OPTIONS];

/** The options each command takes besides the global ones. */
const COMMAND_OPTIONS: Record<string, string[]> = {
  launch: ['image', 'input', 'json', ...LIMIT_OPTIONS],
  ls: ['json'],
  hardline: [...GATEWAY_OPTIONS],
  reclaim: ['image', 'json', ...LIMIT_OPTIONS],
  rm: ['keep-state'],
  image: ['force'],
  'tasks add': ['repo', 'title', 'description', 'max-attempts', 'json'],
  'tasks ls': ['json'],
  'tasks show': ['json'],
  run: ['until-idle', 'max-agents', 'image', 'test-command', 'test-image', 'test-network', 'worktree-transport', 'git-remote', 'max-attempts', ...LIMIT_OPTIONS],
};

const stdio: CliIo = {
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  write: (s) => process.stdout.write(s),
  get isTTY() {
    return process.stdout.isTTY === true;
  },
  get columns() {
    return process.stdout.columns;
  },
  get rows() {
    return process.stdout.rows;
  },
};

/**
 * The headless `borg` CLI over the same `src/core` as the extension. Returns the exit code:
 * 0 ok, 1 refused (a BorgError: the reason goes to stderr), 2 usage; `borg run` also 130/143
 * after SIGINT/SIGTERM.
 */
export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const {
    values: opt,
    positionals: [cmd, ...rest],
  } = parsed as { values: Opts; positionals: string[] };
  if (opt.help || !cmd) {
    (opt.help ? io.out : io.err)(USAGE);
    return opt.help ? 0 : 2;
  }
  try {
    checkOptions(cmd === 'tasks' && rest[0] ? `tasks ${rest[0]}` : cmd, opt);
    switch (cmd) {
      case 'image':
        return await imageCmd(rest, opt, io);
      case 'tasks':
        return await tasksCmd(rest, opt, io);
      case 'run':
        return await runCmd(rest, opt, io);
      case 'launch':
      case 'ls':
      case 'hardline':
      case 'reclaim':
      case 'rm':
        return await withPipeline(cmd, opt, io, (p) => COMMANDS[cmd](p, rest, opt, io));
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof BorgError) {
      io.err(e.message);
      return 1;
    }
    throw e;
  }
}

/** @throws UsageError for an option the command does not take. */
function checkOptions(command: string, opt: Opts): void {
  const allowed = COMMAND_OPTIONS[command];
  if (!allowed) return; // unknown (sub)commands are reported by their dispatcher
  const extra = Object.keys(opt).filter((k) => opt[k] !== undefined && !GLOBAL.includes(k) && !allowed.includes(k));
  if (extra.length) throw new UsageError(`borg ${command} does not take ${extra.map((k) => `--${k}`).join(', ')}`);
}

type Command = (p: Pipeline, args: string[], opt: Opts, io: CliIo) => Promise<number>;

const COMMANDS: Record<'launch' | 'ls' | 'hardline' | 'reclaim' | 'rm', Command> = {
  async launch(p, args, opt, io) {
    const persona = one(args, 'launch <persona>');
    const input = opt.input ? parseInput(String(opt.input)) : undefined;
    const r = await p.launch(persona, { input, image: opt.image as string | undefined });
    io.out(opt.json ? JSON.stringify({ name: r.name, id: r.id, reclaimed: r.reclaimed, stateDir: r.stateDir }) : `${r.name} ${r.id}`);
    if (r.agent.gatewayRun) {
      // This process, and with it the gateway it started, ends now; the agent's forwarder waits 30 s per request for the next one.
      io.err(
        `[borg] ${r.name} reaches its model through this workspace's gateway, which \`borg run\` or the VS Code window on this folder serves: start one of them (its model requests wait 30 s for it, then fail).`,
      );
    }
    return 0;
  },
  async ls(p, args, opt, io) {
    if (args.length) throw new UsageError('ls takes no arguments');
    const list = await p.engine.list({ managedOnly: true });
    // A list does not carry OOMKilled, and any exit code may come with it (verbs.ts).
    for (const c of list) if (needsInspect(c)) c.oomKilled = (await p.engine.inspect(c.id))?.oomKilled === true;
    const rows = list.map((c) => ({
      name: c.name,
      id: c.id,
      persona: c.persona ?? null,
      state: c.status,
      exitCode: c.exitCode ?? null,
      oomKilled: c.oomKilled === true,
      workspace: c.workspace ?? null,
    }));
    if (opt.json) {
      io.out(JSON.stringify({ containers: rows }));
    } else {
      io.out(['NAME', 'PERSONA', 'STATE'].join('\t'));
      for (const c of list) io.out([c.name, c.persona ?? '?', stateWords(c)].join('\t'));
    }
    return 0;
  },
  async hardline(p, args, _opt, io) {
    const given = one(args, 'hardline <name>');
    // An id or id prefix resolves to the container's real name, which its output events carry.
    const name = (await p.engine.inspect(given))?.name ?? given;
    const sub = p.onDidOutput((e) => e.agent === name && io.out(e.line));
    try {
      const agent = await p.hardline(given);
      io.err(`[borg] ${name} is running again; its output follows (Ctrl+C detaches, the container keeps running)`);
      const detach = () => agent.detach();
      process.once('SIGINT', detach);
      process.once('SIGTERM', detach);
      await agent.done;
      process.off('SIGINT', detach);
      process.off('SIGTERM', detach);
      io.err(`[borg] ${name} ${agent.state === 'detached' ? 'detached (still running)' : `exited with ${agent.exitCode ?? '?'} (${agent.state})`}`);
      return 0;
    } finally {
      sub.dispose();
    }
  },
  async reclaim(p, args, opt, io) {
    const name = one(args, 'reclaim <name>');
    const r = await p.reclaim(name, { image: opt.image as string | undefined });
    io.out(opt.json ? JSON.stringify({ name: r.name, id: r.id, reclaimed: true, stateDir: r.stateDir }) : `${r.name} ${r.id}`);
    return 0;
  },
  async rm(p, args, opt, io) {
    const name = await p.removeAgent(one(args, 'rm <name>'), { keepState: opt['keep-state'] === true });
    io.out(`removed ${name}${opt['keep-state'] ? ' (state dir kept)' : ''}`);
    return 0;
  },
};

async function imageCmd(args: string[], opt: Opts, io: CliIo): Promise<number> {
  if (args[0] !== 'build-demo' || args.length !== 1) throw new UsageError('usage: borg image build-demo [--force]');
  const engine = new DockerEngine();
  await engine.ping();
  const built = await buildDemoImage(engine, { force: opt.force === true });
  io.out(built ? `built ${DEMO_IMAGE}` : `${DEMO_IMAGE} is up to date`);
  return 0;
}

/**
 * Builds a one-shot {@link Runtime} for one command and always runs its shutdown sequence
 * afterwards (detach: launched containers keep running, and end by themselves at their
 * watchdog deadline; the store is flushed atomically). Commands that write the database hold
 * its lock meanwhile (refused while a `borg run` holds it: its next write would drop theirs);
 * `ls` only reads it and never writes it.
 */
async function withPipeline(cmd: string, opt: Opts, io: CliIo, fn: (p: Pipeline) => Promise<number>): Promise<number> {
  const paths = resolvePaths(opt, io);
  const readOnly = cmd === 'ls';
  const lock = readOnly ? undefined : await lockForCommand(paths.db, cmd, io);
  try {
    const store = await Store.open(paths.db);
    if (store.recoveredFrom) io.err(`[borg] the database could not be read; moved to ${store.recoveredFrom}`);
    const gateway = gatewaySettings(opt);
    const runtime = makeRuntime(new DockerEngine(), store, paths, { kind: 'oneShot', settings: () => pipelineSettings(opt), gatewaySettings: () => gateway });
    try {
      return await fn(runtime.pipeline);
    } finally {
      if (readOnly) {
        runtime.pipeline.stop();
        runtime.dispose();
      } else {
        await runtime.shutdown('detach');
      }
    }
  } finally {
    lock?.release();
  }
}

function one(args: string[], usage: string): string {
  if (args.length !== 1) throw new UsageError(`usage: borg ${usage}`);
  return args[0];
}

function parseInput(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UsageError('--input must be a JSON object, e.g. --input \'{"sleepSeconds":5}\'');
}
