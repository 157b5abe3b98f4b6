import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, ParseArgsConfig } from 'node:util';
import { buildDemoImage, DEMO_IMAGE } from '../core/demoImage';
import { DockerEngine } from '../core/engine';
import { BorgError } from '../core/errors';
import { DEFAULT_SETTINGS, Pipeline } from '../core/pipeline';
import { StateDirs } from '../core/stateDirs';
import { Store } from '../core/store';
import { stateWords } from '../core/verbs';
import { workspaceId } from '../core/workspace';

const USAGE = `usage: borg <command> [options]

commands:
  launch <persona> [--image I] [--input JSON] [--json]   launch an agent (prints name and id)
  ls [--json]                                            list Borg's containers
  hardline <name>                                        restart a crashed agent, attach its output
  reclaim <name> [--json]                                fresh agent under a cleanly exited name
  rm <name> [--keep-state]                               remove a stopped agent (and its state dir)
  image build-demo [--force]                             build the offline demo agent image

global options:
  --state-dir PATH   root of the per-name state dirs (default ~/.borg/agents)
  --prefix P         container name prefix (default borg)
  --db PATH          database file (default ~/.borg/borg.sqlite)
  --workspace PATH   workspace the agents belong to (default: the current folder)

Docker is reached through DOCKER_HOST or the local socket.
exit codes: 0 ok, 1 refused (reason on stderr), 2 usage`;

const OPTIONS: ParseArgsConfig['options'] = {
  'state-dir': { type: 'string' },
  prefix: { type: 'string' },
  db: { type: 'string' },
  workspace: { type: 'string' },
  image: { type: 'string' },
  input: { type: 'string' },
  json: { type: 'boolean' },
  'keep-state': { type: 'boolean' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

class UsageError extends Error {}

/** Output sinks, so tests can capture them. */
export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

const stdio: CliIo = { out: (s) => process.stdout.write(s + '\n'), err: (s) => process.stderr.write(s + '\n') };

/**
 * The headless `borg` CLI over the same `src/core` as the extension. Returns the exit code:
 * 0 ok, 1 refused (a BorgError: the reason goes to stderr), 2 usage.
 */
export async function main(argv: string[], io: CliIo = stdio): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    io.err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values: opt, positionals: [cmd, ...rest] } = parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
  if (opt.help || !cmd) {
    (opt.help ? io.out : io.err)(USAGE);
    return opt.help ? 0 : 2;
  }
  try {
    switch (cmd) {
      case 'image':
        return await imageCmd(rest, opt, io);
      case 'launch':
      case 'ls':
      case 'hardline':
      case 'reclaim':
      case 'rm':
        return await withPipeline(opt, (p) => COMMANDS[cmd](p, rest, opt, io));
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

type Opts = Record<string, string | boolean | undefined>;
type Command = (p: Pipeline, args: string[], opt: Opts, io: CliIo) => Promise<number>;

const COMMANDS: Record<'launch' | 'ls' | 'hardline' | 'reclaim' | 'rm', Command> = {
  async launch(p, args, opt, io) {
    const persona = one(args, 'launch <persona>');
    const input = opt.input ? parseInput(String(opt.input)) : undefined;
    const r = await p.launch(persona, { input, image: opt.image as string | undefined });
    io.out(opt.json ? JSON.stringify({ name: r.name, id: r.id, reclaimed: r.reclaimed, stateDir: r.stateDir }) : `${r.name} ${r.id}`);
    return 0;
  },
  async ls(p, args, opt, io) {
    if (args.length) throw new UsageError('ls takes no arguments');
    const list = await p.engine.list({ managedOnly: true });
    for (const c of list) if (c.status === 'exited' && c.exitCode === 137) c.oomKilled = (await p.engine.inspect(c.id))?.oomKilled === true;
    const rows = list.map((c) => ({ name: c.name, id: c.id, persona: c.persona ?? null, state: c.status, exitCode: c.exitCode ?? null, oomKilled: c.exitCode === 137 && c.oomKilled === true, workspace: c.workspace ?? null }));
    if (opt.json) {
      io.out(JSON.stringify({ containers: rows }));
    } else {
      io.out(['NAME', 'PERSONA', 'STATE'].join('\t'));
      for (const c of list) io.out([c.name, c.persona ?? '?', stateWords(c)].join('\t'));
    }
    return 0;
  },
  async hardline(p, args, _opt, io) {
    const name = one(args, 'hardline <name>');
    const sub = p.onDidOutput((e) => e.agent === name && io.out(e.line));
    try {
      const agent = await p.hardline(name);
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
    const name = one(args, 'rm <name>');
    await p.removeAgent(name, { keepState: opt['keep-state'] === true });
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
 * Builds a Pipeline for one command and always runs the shutdown sequence afterwards (detach:
 * launched containers keep running; the store is flushed atomically).
 */
async function withPipeline(opt: Opts, fn: (p: Pipeline) => Promise<number>): Promise<number> {
  const home = path.join(os.homedir(), '.borg');
  const store = await Store.open(path.resolve(String(opt.db ?? path.join(home, 'borg.sqlite'))));
  if (store.recoveredFrom) process.stderr.write(`[borg] the database could not be read; moved to ${store.recoveredFrom}\n`);
  const engine = new DockerEngine();
  const ws = path.resolve(String(opt.workspace ?? process.cwd()));
  const pipeline = new Pipeline({
    engine,
    store,
    stateDirs: new StateDirs(path.resolve(String(opt['state-dir'] ?? path.join(home, 'agents')))),
    workspaceId: workspaceId(pathToFileURL(ws).href),
    settings: () => ({ ...DEFAULT_SETTINGS, prefix: String(opt.prefix ?? DEFAULT_SETTINGS.prefix), image: String(opt.image ?? DEFAULT_SETTINGS.image) }),
  });
  try {
    return await fn(pipeline);
  } finally {
    await pipeline.shutdown('detach');
    pipeline.dispose();
    await store.close().catch(() => undefined);
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
