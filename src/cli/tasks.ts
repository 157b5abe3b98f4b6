import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatUsd, usageLong } from '../core/costText';
import { BorgError, RefusedError } from '../core/errors';
import { Ledger } from '../core/gateway/ledger';
import { Git } from '../core/git';
import { DEFAULT_TASK_SETTINGS } from '../core/scheduler';
import { requireCommit } from '../core/taskCheckout';
import { BLOCKED_ADVICE, isSkippedTest, progressWords } from '../core/taskLife';
import { Store } from '../core/store';
import { Task, TaskRun, TaskStore, validateTaskText } from '../core/taskStore';
import { GENERAL_RULES } from '../core/settingRules';
import { CliIo, firstLine, formatDuration, intOption, Opts, resolvePaths, takeOrRefuse, UsageError } from './common';
import { DbLock, describeHolder, holderAlive, LockHolder, lockHolder } from './lock';

/**
 * `borg tasks add|ls|show`. `ls` and `show` only read the database file (never write it), so
 * they work while a `borg run` holds it (they see what it last wrote; it writes on every task
 * change). `add` takes the database lock; when a `borg run` holds it, the task is handed to that
 * run through its inbox (`<db>.inbox/`), since a second writer would lose the run's changes or
 * have its own overwritten.
 */
export async function tasksCmd(args: string[], opt: Opts, io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'add':
      if (rest.length) throw new UsageError('tasks add takes no positional arguments (quote the title: --title "...")');
      return add(opt, io);
    case 'ls':
      if (rest.length) throw new UsageError('tasks ls takes no arguments');
      return ls(opt, io);
    case 'show':
      if (rest.length !== 1 || !/^\d+$/.test(rest[0])) throw new UsageError('usage: borg tasks show <id> [--json]');
      return show(Number(rest[0]), opt, io);
    default:
      throw new UsageError(sub ? `unknown tasks command "${sub}"` : 'usage: borg tasks add|ls|show');
  }
}

/** What `borg tasks add` asks a running `borg run` to do (one JSON file in the inbox). */
export interface InboxRequest {
  op: 'add';
  title: string;
  description: string;
  repo: string;
  maxAttempts?: number;
}

/** The run's answer, `<request>.reply.json`. */
export type InboxReply = { ok: true; task: Task } | { ok: false; error: string };

/** The inbox folder of a database. */
export function inboxDirOf(db: string): string {
  return `${db}.inbox`;
}

/** How long `tasks add` waits for a running `borg run` to take and answer its request. */
const INBOX_TIMEOUT_MS = 15_000;

async function add(opt: Opts, io: CliIo): Promise<number> {
  if (typeof opt.repo !== 'string' || !opt.repo) throw new UsageError('tasks add needs --repo PATH (a folder inside a git repository)');
  if (typeof opt.title !== 'string') throw new UsageError('tasks add needs --title "what should change"');
  const maxAttempts = intOption(opt, 'max-attempts', GENERAL_RULES.maxAttempts.min, GENERAL_RULES.maxAttempts.max);
  const { title, description } = validateTaskText(opt.title, typeof opt.description === 'string' ? opt.description : '');
  const git = new Git();
  const repo = await git.toplevel(path.resolve(opt.repo));
  await requireCommit(git, repo);
  const { db } = resolvePaths(opt, io);
  const request: InboxRequest = { op: 'add', title, description, repo, maxAttempts };
  for (;;) {
    const r = await DbLock.acquire(db, 'tasks add', 5_000);
    if (!r.lock && r.holder.command === 'run') {
      const task = await viaInbox(db, request, r.holder);
      if (task === 'run-gone') continue; // the run ended before taking it: add it ourselves
      printTask(task, opt, io);
      return 0;
    }
    const lock = takeOrRefuse(r, db, 'tasks add', io);
    try {
      const store = await Store.open(db);
      if (store.recoveredFrom) io.err(`[borg] the database could not be read; moved to ${store.recoveredFrom}`);
      try {
        const task = new TaskStore(store).add({ title, description, repo, maxAttempts: maxAttempts ?? DEFAULT_TASK_SETTINGS.maxAttempts });
        await store.close();
        printTask(task, opt, io);
        return 0;
      } finally {
        await store.close().catch(() => undefined);
      }
    } finally {
      lock.release();
    }
  }
}

function printTask(task: Task, opt: Opts, io: CliIo): void {
  io.out(opt.json ? JSON.stringify(task) : String(task.id));
}

/**
 * Hands `request` to the `borg run` that holds the lock (`run`): writes it into the inbox
 * (atomically, by rename), waits for the reply. Returns the task, or 'run-gone' when the run
 * ended before it took the request (the request is withdrawn).
 * @throws BorgError when the run refused the task or did not answer in time.
 */
async function viaInbox(db: string, request: InboxRequest, run: LockHolder): Promise<Task | 'run-gone'> {
  const runPid = run.pid;
  const dir = inboxDirOf(db);
  const id = `${Date.now()}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const req = path.join(dir, `${id}.req.json`);
  const reply = path.join(dir, `${id}.reply.json`);
  for (let tries = 0; ; tries++) {
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(`${req}.tmp`, JSON.stringify(request));
      fs.renameSync(`${req}.tmp`, req);
      break;
    } catch (e) {
      // The run removes its (empty) inbox when it ends: it may have just done so.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || tries >= 3) throw e;
      if (!holderAlive(run)) return 'run-gone';
    }
  }
  const end = Date.now() + INBOX_TIMEOUT_MS;
  for (;;) {
    const text = readIfExists(reply);
    if (text !== undefined) {
      fs.rmSync(reply, { force: true });
      const r = JSON.parse(text) as InboxReply;
      if (!r.ok) throw new BorgError(r.error);
      return r.task;
    }
    const gone = !holderAlive(run);
    if (gone || Date.now() > end) {
      const withdrawn = tryUnlink(req);
      if (gone && withdrawn) return 'run-gone';
      if (withdrawn) {
        throw new BorgError(`borg run (pid ${runPid}) holds the database ${db} but did not take the task within ${INBOX_TIMEOUT_MS / 1000} s; nothing was added.`);
      }
      if (Date.now() > end + 5_000 || gone) {
        throw new BorgError(`borg run (pid ${runPid}) took the task but did not confirm it; see borg tasks ls.`);
      }
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/**
 * The run's side of the inbox: takes each request (rename to `.taken`, so it is handled once),
 * handles it and writes the reply atomically. Requests older than a minute were abandoned by
 * their `tasks add` (which withdraws its own on timeout) and are dropped. Never throws.
 */
export async function serveInbox(db: string, handle: (r: InboxRequest) => Promise<Task>): Promise<number> {
  const dir = inboxDirOf(db);
  let names: string[];
  try {
    names = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.req.json'))
      .sort();
  } catch {
    return 0;
  }
  let handled = 0;
  for (const name of names) {
    const file = path.join(dir, name);
    const taken = `${file}.taken`;
    try {
      fs.renameSync(file, taken);
    } catch {
      continue; // withdrawn meanwhile
    }
    const replyFile = path.join(dir, name.replace(/\.req\.json$/, '.reply.json'));
    let reply: InboxReply;
    try {
      const age = Date.now() - Number(name.split('-')[0]);
      if (!(age < 60_000)) {
        fs.rmSync(taken, { force: true });
        continue;
      }
      const r = JSON.parse(fs.readFileSync(taken, 'utf8')) as InboxRequest;
      if (r.op !== 'add') throw new RefusedError(`unknown inbox request "${String(r.op)}"`);
      reply = { ok: true, task: await handle(r) };
      handled++;
    } catch (e) {
      reply = { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
    try {
      fs.writeFileSync(`${replyFile}.tmp`, JSON.stringify(reply));
      fs.renameSync(`${replyFile}.tmp`, replyFile);
    } catch {
      // the requester is gone with its folder
    }
    fs.rmSync(taken, { force: true });
  }
  return handled;
}

/** Opens the database read-only (store.ts): nothing is written, whoever holds it. */
async function openForReading(db: string): Promise<TaskStore> {
  const holder = lockHolder(db);
  return new TaskStore(await Store.open(db, { readOnly: true, heldBy: holder ? describeHolder(holder) : undefined }));
}

/**
 * `tasks ls`: one row per task with what its runs spent on the model (USD, the gateway's ledger);
 * a blocked task's status says why (`blocked:quota`). `--json`: `{tasks: [Task & {spentUsd}]}`.
 */
async function ls(opt: Opts, io: CliIo): Promise<number> {
  const { db } = resolvePaths(opt, io);
  const store = await openForReading(db);
  const ledger = new Ledger(store.store);
  const tasks = store.list().map((t) => ({ ...t, spentUsd: ledger.spentByTask(t.id) }));
  if (opt.json) {
    io.out(JSON.stringify({ tasks }));
    return 0;
  }
  const holder = lockHolder(db);
  if (holder?.command === 'run' && holderAlive(holder)) io.err(`[borg] ${describeHolder(holder)} is working on these tasks`);
  const status = (t: Task) => (t.status === 'blocked' ? `blocked:${t.blockedReason ?? 'other'}` : t.status);
  const finished = (t: Task) => t.status === 'done' || t.status === 'merged';
  const rows = tasks.map((t) => [String(t.id), status(t), finished(t) ? '-' : t.phase, finished(t) ? '-' : `${t.attempt}/${t.maxAttempts}`, formatUsd(t.spentUsd), t.title]);
  io.out(table([['ID', 'STATUS', 'PHASE', 'ATTEMPT', 'COST', 'TITLE'], ...rows]));
  return 0;
}

/** `tasks show <id>`: the task and its runs; `--json`: `{task, runs, spentUsd}` (USD, every run, as the gateway metered them). */
async function show(id: number, opt: Opts, io: CliIo): Promise<number> {
  const { db } = resolvePaths(opt, io);
  const store = await openForReading(db);
  const task = store.get(id);
  if (!task) throw new RefusedError(`There is no task ${id} in ${db}. See borg tasks ls.`);
  const runs = store.runs(id);
  const spentUsd = new Ledger(store.store).spentByTask(id);
  if (opt.json) {
    io.out(JSON.stringify({ task, runs, spentUsd }));
    return 0;
  }
  io.out(describeTask(task, runs, spentUsd));
  return 0;
}

/**
 * The human form of `tasks show`: the task (a blocked one with its reason and retry time, and
 * `spentUsd`, what the gateway metered for all its runs), then its runs oldest first, each with
 * its tokens and cost (`in 1,234 · out 567 tok · $0.0123`), then the runs' total.
 */
export function describeTask(t: Task, runs: TaskRun[], spentUsd = 0): string {
  const when = (ms: number | null) =>
    ms
      ? new Date(ms)
          .toISOString()
          .replace('T', ' ')
          .replace(/\.\d+Z$/, 'Z')
      : '-';
  const lines = [
    `task ${t.id}: ${t.title}`,
    t.status === 'done' || t.status === 'merged' ? `  status    ${progressWords(t)}` : `  status    ${t.status} (phase ${t.phase}), attempt ${t.attempt}/${t.maxAttempts}`,
    ...(t.status === 'blocked'
      ? [`  blocked   ${t.blockedReason ?? 'other'}${t.retryAt ? `, retry after ${when(t.retryAt)}` : ''}`, `  to do     ${BLOCKED_ADVICE[t.blockedReason ?? 'other'] ?? BLOCKED_ADVICE.other}`]
      : []),
    `  spent     ${formatUsd(spentUsd)} on the model (all runs)`,
    `  repo      ${t.repo}`,
    `  branch    ${t.branch ?? '-'} (from ${t.baseBranch ?? '-'})`,
    `  worktree  ${t.worktree ?? '-'}`,
    `  created   ${when(t.createdAt)}, updated ${when(t.updatedAt)}`,
  ];
  if (t.description) lines.push('  description:', ...t.description.split('\n').map((l) => `    ${l}`));
  if (t.lastError)
    lines.push(
      '  last error:',
      ...t.lastError
        .split('\n')
        .slice(-20)
        .map((l) => `    ${l}`),
    );
  lines.push(runs.length ? 'runs:' : 'runs: none yet');
  const rows = runs.map((r) => [
    when(r.startedAt),
    r.phase,
    String(r.attempt),
    r.agent ?? '-',
    isSkippedTest(r) ? 'tests skipped' : r.outcome,
    r.exitCode === null ? '-' : String(r.exitCode),
    isSkippedTest(r) ? '-' : formatDuration(r.durationMs),
    r.commitSha ? r.commitSha.slice(0, 10) : '-',
    usageLong(r),
    r.error ? firstLine(r.error, 80) : '',
  ]);
  if (rows.length) lines.push(table([['STARTED', 'PHASE', 'ATTEMPT', 'AGENT', 'OUTCOME', 'EXIT', 'TIME', 'COMMIT', 'USAGE', 'ERROR'], ...rows], '  '));
  const used = runs.filter((r) => r.inputTokens !== null || r.outputTokens !== null || r.costUsd !== null);
  if (used.length) {
    const sum = (k: 'inputTokens' | 'outputTokens' | 'costUsd') => used.reduce((n, r) => n + (r[k] ?? 0), 0);
    lines.push(`  total     ${usageLong({ inputTokens: sum('inputTokens'), outputTokens: sum('outputTokens'), costUsd: sum('costUsd') })} (${used.length} run${used.length === 1 ? '' : 's'})`);
  }
  return lines.join('\n');
}

/** Left-aligned columns separated by two spaces (the last column is not padded). */
export function table(rows: string[][], indent = ''): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map(
      (r) =>
        indent +
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
          .join('  ')
          .trimEnd(),
    )
    .join('\n');
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function tryUnlink(file: string): boolean {
  try {
    fs.unlinkSync(file);
    return true;
  } catch {
    return false;
  }
}
