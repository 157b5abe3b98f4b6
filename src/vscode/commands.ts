import * as vscode from 'vscode';
import { buildDemoImage, DEMO_IMAGE } from '../core/demoImage';
import { membersOf } from '../core/engines';
import { BorgError, DockerUnreachableError, ImageMissingError, InterruptedError, RefusedError } from '../core/errors';
import { LaunchResult, PERSONAS } from '../core/pipeline';
import { checkVerb, isClean, isCrashed, isStopped, stateWords, Verb, verbsFor } from '../core/verbs';
import { GROUP_BYS, type ContainerNode, type GroupBy, type QueuedNode } from './agentTree';
import type { BorgContext } from './ctx';
import { Hardline, openHardline } from './hardlineTerminal';
import { registerContainerFiles } from './containerFilesNodes';
import { LogsDocuments, LOGS_SCHEME, toggleRawLogs } from './logsDocument';
import { whenTrusted } from './trust';

const PERSONA_DESCRIPTIONS: Record<string, string> = {
  manager: 'writes the spec for a task',
  qa: 'writes tests that must fail on the current code',
  worker: 'changes the code until the tests pass',
};

/** Registers every `borg.*` command; one function per command, each taking the context. */
export function registerCommands(ctx: BorgContext): vscode.Disposable[] {
  const logs = new LogsDocuments(ctx.pipeline);
  return [
    vscode.commands.registerCommand(
      'borg.launch',
      whenTrusted('Launch Agent', (persona?: unknown) => launch(ctx, typeof persona === 'string' ? persona : undefined)),
    ),
    vscode.commands.registerCommand('borg.refresh', () => ctx.refresh()),
    vscode.commands.registerCommand(
      'borg.buildDemoImage',
      whenTrusted('Build Demo Image', () => buildDemo(ctx)),
    ),
    vscode.commands.registerCommand('borg.stopAll', () => stopAll(ctx)),
    vscode.commands.registerCommand('borg.resume', () => resume(ctx)),
    vscode.commands.registerCommand(
      'borg.hardline',
      whenTrusted('Hardline', (arg?: unknown) => hardline(ctx, arg)),
    ),
    vscode.commands.registerCommand(
      'borg.reclaim',
      whenTrusted('Reclaim', (arg?: unknown) => reclaim(ctx, arg)),
    ),
    vscode.commands.registerCommand('borg.stop', (arg?: unknown, items?: unknown) => stop(ctx, arg, items)),
    vscode.commands.registerCommand('borg.remove', (arg?: unknown, items?: unknown, opts?: { keepState?: boolean }) => remove(ctx, arg, items, opts)),
    vscode.commands.registerCommand('borg.removeExited', (opts?: RemoveExitedOptions) => removeExited(ctx, opts)),
    vscode.commands.registerCommand('borg.cancelLaunch', (arg?: unknown) => cancelLaunch(ctx, arg)),
    vscode.commands.registerCommand('borg.agents.groupBy', (by?: unknown) => groupBy(ctx, by)),
    vscode.commands.registerCommand('borg.showLogs', (arg?: unknown) => showLogs(ctx, arg, logs)),
    vscode.commands.registerCommand('borg.openStateFolder', (arg?: unknown) => openStateFolder(ctx, arg)),
    logs,
    vscode.workspace.registerTextDocumentContentProvider(LOGS_SCHEME, logs),
    vscode.commands.registerCommand('borg.toggleRawLogs', (uri?: unknown) => toggleRawLogs(uri instanceof vscode.Uri ? uri : undefined)),
    ...registerContainerFiles(ctx),
  ];
}

/** The container name a command argument names: a string (palette, tests) or an Agents view row. */
function nameOf(arg: unknown): string | undefined {
  if (typeof arg === 'string' && arg) return arg;
  const node = arg as ContainerNode | undefined;
  if (node && node.kind === 'container' && typeof node.name === 'string') return node.name;
  return undefined;
}

/**
 * The containers a multi-select command acts on: VS Code passes the clicked row and, with
 * `canSelectMany`, every selected row (`items`, the clicked one among them); rows that are not
 * containers (groups, queued launches), or whose state the verb does not fit, are left out.
 * One row (or none) falls back to {@link target}.
 */
async function targets(ctx: BorgContext, arg: unknown, items: unknown, verb: Verb): Promise<string[]> {
  const rows = Array.isArray(items) ? items.filter((n): n is ContainerNode => (n as ContainerNode | undefined)?.kind === 'container') : [];
  if (rows.length > 1) {
    // A mixed selection: act on the rows the verb fits (the same table as the menus), say how many were left out.
    const fit = [...new Set(rows.filter((r) => verbsFor(r.info).includes(verb)).map((r) => r.name))];
    const left = new Set(rows.map((r) => r.name)).size - fit.length;
    if (fit.length === 0) void vscode.window.showInformationMessage(`None of the selected agents can be ${VERB_PAST[verb]} now.`);
    else if (left > 0) vscode.window.setStatusBarMessage(`Borg: ${left} selected agent${left === 1 ? '' : 's'} left out (cannot be ${VERB_PAST[verb]} now)`, 5000);
    return fit;
  }
  const one = await target(ctx, rows[0] ?? arg, verb);
  return one ? [one] : [];
}

/**
 * The container a command acts on: a name (palette, tests), a tree item's container (context
 * menu), or — with neither — the user's pick among the containers whose state fits `verb`.
 */
async function target(ctx: BorgContext, arg: unknown, verb: Verb): Promise<string | undefined> {
  const named = nameOf(arg);
  if (named) return named;
  await ctx.refresh();
  const fits = ctx.pipeline.containers.filter((c) => {
    try {
      checkVerb(verb, c, c.name);
      return true;
    } catch {
      return false;
    }
  });
  if (fits.length === 0) {
    void vscode.window.showInformationMessage(`No agent can be ${VERB_PAST[verb]} now.`);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    fits.map((c) => ({ label: c.name, description: `${c.persona ?? '?'} · ${stateWords(c)}` })),
    { title: VERB_TITLE[verb], placeHolder: 'Agent container' },
  );
  return pick?.label;
}

const VERB_TITLE: Record<Verb, string> = {
  hardline: 'Hardline: restart a crashed agent and attach',
  reclaim: 'Reclaim: run a fresh agent under a cleanly exited name',
  stop: 'Stop Agent',
  remove: 'Remove Agent',
  logs: 'Show Logs',
};
const VERB_PAST: Record<Verb, string> = { hardline: 'hardlined', reclaim: 'reclaimed', stop: 'stopped', remove: 'removed', logs: 'shown' };

/** Borg: Hardline — restart a crashed agent in an integrated terminal bridged to its output. */
export async function hardline(ctx: BorgContext, arg?: unknown): Promise<Hardline | undefined> {
  const name = await target(ctx, arg, 'hardline');
  if (!name) return undefined;
  try {
    checkVerb('hardline', await ctx.pipeline.inspect(name), name); // refuse before opening a terminal
  } catch (e) {
    showError(ctx, 'Hardline failed', e);
    return undefined;
  }
  return openHardline(ctx, name);
}

/** Borg: Reclaim — remove a cleanly exited agent and launch a fresh one under its name and state dir. */
export async function reclaim(ctx: BorgContext, arg?: unknown): Promise<LaunchResult | undefined> {
  const name = await target(ctx, arg, 'reclaim');
  if (!name) return undefined;
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: reclaiming ${name}…` }, () => ctx.pipeline.reclaim(name));
    vscode.window.setStatusBarMessage(`$(vm-running) Borg: ${name} reclaimed`, 5000);
    return result;
  } catch (e) {
    showError(ctx, 'Reclaim failed', e);
    return undefined;
  }
}

/**
 * Borg: Stop All Agents — pauses task dispatch, rejects queued launches, stops every running
 * agent and waits for them. Their task phases are interrupted (no attempt spent) and wait for
 * Borg: Resume Tasks, offered in the message.
 */
export async function stopAll(ctx: BorgContext): Promise<void> {
  const n = ctx.pipeline.runningCount + ctx.pipeline.queuedCount;
  if (ctx.pipeline.readOnlyReason) {
    showError(ctx, 'Stop All failed', new RefusedError(ctx.pipeline.readOnlyReason));
    return;
  }
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: stopping ${n} agent${n === 1 ? '' : 's'}…` }, () => ctx.runtime.stopAll());
  } catch (e) {
    showError(ctx, 'Stop All failed', e);
    return;
  } finally {
    void ctx.refresh();
  }
  void vscode.window.showInformationMessage('Borg: all agents stopped. Tasks are paused: no phase starts until you resume.', 'Resume Tasks').then((pick) => {
    if (pick) resume(ctx);
  });
}

/** Borg: Resume Tasks — ends the pause Stop All began; waiting phases are dispatched again. */
export function resume(ctx: BorgContext): void {
  ctx.runtime.resume();
}

/**
 * Borg: Stop Agent — SIGTERM, then SIGKILL after borg.stopGraceSeconds. With several rows
 * selected it stops them all at once; those not running are skipped. Resolves true when every
 * one asked for stopped.
 */
export async function stop(ctx: BorgContext, arg?: unknown, items?: unknown): Promise<boolean> {
  const names = await targets(ctx, arg, items, 'stop');
  if (names.length === 0) return false;
  const title = names.length === 1 ? `Borg: stopping ${names[0]}…` : `Borg: stopping ${names.length} agents…`;
  const results = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title }, () => Promise.allSettled(names.map((n) => ctx.pipeline.stopAgent(n))));
  return reportEach(ctx, 'Stop failed', names, results);
}

/**
 * Borg: Remove Agent — asks for confirmation and whether to keep the state dir (the agent's
 * credentials and history); one question for all selected rows. Programmatic callers pass
 * `{ keepState }` (as the second argument, or the third after the selection) to skip the question.
 */
export async function remove(ctx: BorgContext, arg?: unknown, itemsOrOpts?: unknown, given?: { keepState?: boolean }): Promise<boolean> {
  const opts = given ?? (!Array.isArray(itemsOrOpts) && itemsOrOpts && typeof itemsOrOpts === 'object' ? (itemsOrOpts as { keepState?: boolean }) : undefined);
  const names = await targets(ctx, arg, Array.isArray(itemsOrOpts) ? itemsOrOpts : undefined, 'remove');
  if (names.length === 0) return false;
  let keepState = opts?.keepState;
  if (keepState === undefined) {
    const keep = 'Remove, Keep State Folder';
    const drop = 'Remove and Delete State Folder';
    const one = names.length === 1;
    const answer = await vscode.window.showWarningMessage(
      one ? `Remove ${names[0]}?` : `Remove ${names.length} agents?`,
      {
        modal: true,
        detail: one
          ? `The container, its logs and its filesystem are deleted. Its state folder (${ctx.pipeline.stateDirs.dir(names[0])}) holds the agent's input, credentials and history; keep it to reuse it under this name.`
          : `${names.join(', ')}: the containers, their logs and filesystems are deleted. Their state folders (in ${ctx.pipeline.stateDirs.root}) hold each agent's input, credentials and history; keep them to reuse them under these names.`,
      },
      keep,
      drop,
    );
    if (!answer) return false;
    keepState = answer === keep;
  }
  const keep = keepState;
  const results = await Promise.allSettled(names.map((n) => ctx.pipeline.removeAgent(n, { keepState: keep })));
  return reportEach(ctx, 'Remove failed', names, results);
}

/** What {@link removeExited} removes without asking (tests, scripts): crashed ones too, state folders too. */
export interface RemoveExitedOptions {
  crashed?: boolean;
  keepState?: boolean;
}

/**
 * Borg: Remove Exited Agents… — removes every agent that ended cleanly (exited 0 and not
 * OOM-killed, or stopped by Borg); crashed ones (non-zero exit, timed out, OOM-killed, dead:
 * kept for Hardline) only when the user picks "Also Crashed Ones". State folders are kept
 * (Remove Agent deletes one). Containers never started are left alone (a launch may be
 * between create and start). Resolves with the names removed.
 */
export async function removeExited(ctx: BorgContext, opts?: RemoveExitedOptions): Promise<string[]> {
  await ctx.refresh();
  const ended = ctx.pipeline.containers.filter((c) => c.status === 'exited' || c.status === 'dead');
  const clean = ended.filter((c) => isClean(c) || isStopped(c)).map((c) => c.name);
  const crashed = ended.filter((c) => isCrashed(c)).map((c) => c.name);
  if (clean.length + crashed.length === 0) {
    void vscode.window.showInformationMessage('Borg: no exited agents to remove.');
    return [];
  }
  let withCrashed = opts?.crashed;
  if (withCrashed === undefined) {
    const cleanOnes = 'Remove Clean Ones';
    const alsoCrashed = 'Also Crashed Ones';
    const buttons = crashed.length ? (clean.length ? [cleanOnes, alsoCrashed] : [alsoCrashed]) : [cleanOnes];
    const answer = await vscode.window.showWarningMessage(
      `Remove exited agents?`,
      {
        modal: true,
        detail:
          `${clean.length} ended cleanly or were stopped${clean.length ? ` (${clean.join(', ')})` : ''}; ` +
          `${crashed.length} crashed${crashed.length ? ` (${crashed.join(', ')}): kept for Hardline unless you pick "${alsoCrashed}"` : ''}. ` +
          'Containers, logs and filesystems are deleted; state folders are kept.',
      },
      ...buttons,
    );
    if (!answer) return [];
    withCrashed = answer === alsoCrashed;
  }
  const names = withCrashed ? [...clean, ...crashed] : clean;
  const keepState = opts?.keepState ?? true;
  const results = await Promise.allSettled(names.map((n) => ctx.pipeline.removeAgent(n, { keepState })));
  reportEach(ctx, 'Remove failed', names, results);
  const removed = names.filter((_, i) => results[i].status === 'fulfilled');
  vscode.window.setStatusBarMessage(`$(trash) Borg: removed ${removed.length} exited agent${removed.length === 1 ? '' : 's'}`, 5000);
  return removed;
}

/**
 * Borg: Cancel Launch — drops a launch waiting for a slot (a queued row, or the user's pick);
 * the launch's own caller then reads "cancelled", not an error.
 */
export async function cancelLaunch(ctx: BorgContext, arg?: unknown): Promise<boolean> {
  let id = (arg as QueuedNode | undefined)?.kind === 'queued' ? (arg as QueuedNode).launch.id : typeof arg === 'number' ? arg : undefined;
  if (id === undefined) {
    const loose = ctx.pipeline.queued.filter((q) => !q.task);
    if (loose.length === 0) {
      void vscode.window.showInformationMessage("Borg: no launch is waiting for a slot (a task's phase is cancelled with its task).");
      return false;
    }
    const pick = await vscode.window.showQuickPick(
      loose.map((q, i) => ({ label: `${q.persona} (queued)`, description: i === 0 ? 'next' : `${i} ahead`, id: q.id })),
      { title: 'Cancel Launch', placeHolder: 'Launch waiting for a slot' },
    );
    if (!pick) return false;
    id = pick.id;
  }
  const q = ctx.pipeline.queued.find((x) => x.id === id);
  if (q?.task) {
    void vscode.window.showInformationMessage(`Borg: this launch runs a phase of task #${q.task}; cancel the task in the Tasks view instead.`);
    return false;
  }
  const cancelled = ctx.pipeline.cancelQueued(id);
  if (!cancelled) void vscode.window.showInformationMessage('Borg: that launch is no longer waiting (it started or was cancelled).');
  return cancelled;
}

const GROUP_BY_PICKS: ReadonlyArray<{ by: GroupBy; label: string; detail: string }> = [
  { by: 'task', label: 'By Task', detail: 'one group per task, then per phase; agents without a task apart' },
  { by: 'state', label: 'By State', detail: 'running, crashed, stopped, exited cleanly' },
  { by: 'none', label: 'No Groups', detail: 'one list, newest first' },
];

/**
 * Borg: Group Agents By… — sets `borg.agents.groupBy` (where it is set: the workspace's value
 * if it has one, else the user's), from a pick or the argument.
 */
export async function groupBy(ctx: BorgContext, by?: unknown): Promise<GroupBy | undefined> {
  let chosen = GROUP_BYS.includes(by as GroupBy) ? (by as GroupBy) : undefined;
  if (!chosen) {
    const now = ctx.config.agentsGroupBy;
    const pick = await vscode.window.showQuickPick(
      GROUP_BY_PICKS.map((p) => ({ label: p.label, detail: p.detail, description: p.by === now ? 'current' : undefined, by: p.by })),
      { title: 'Group Agents By' },
    );
    if (!pick) return undefined;
    chosen = pick.by;
  }
  const config = vscode.workspace.getConfiguration('borg');
  const target = config.inspect('agents.groupBy')?.workspaceValue !== undefined ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  await config.update('agents.groupBy', chosen, target);
  return chosen;
}

/** Shows one error per failed name (a name prefixed), logs them all; true when every one succeeded. */
function reportEach(ctx: BorgContext, what: string, names: readonly string[], results: ReadonlyArray<PromiseSettledResult<unknown>>): boolean {
  const failed = results.map((r, i) => (r.status === 'rejected' ? { name: names[i], error: r.reason as unknown } : undefined)).filter((f) => !!f);
  if (failed.length === 1) showError(ctx, what, failed[0].error);
  else if (failed.length > 1) {
    for (const f of failed) ctx.log.error(`${what} (${f.name}): ${errorLine(f.error)}`);
    void vscode.window.showErrorMessage(`${what} for ${failed.length} agents: ${failed.map((f) => `${f.name} (${errorLine(f.error)})`).join('; ')}`);
  }
  return failed.length === 0;
}

function errorLine(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Borg: Show Logs — the container's output in a read-only editor that follows it live (logsDocument.ts). */
export async function showLogs(ctx: BorgContext, arg?: unknown, logs?: LogsDocuments): Promise<vscode.TextEditor | undefined> {
  const name = await target(ctx, arg, 'logs');
  if (!name) return undefined;
  try {
    const uri = LogsDocuments.uri(name);
    const open = vscode.workspace.textDocuments.some((d) => d.uri.toString() === uri.toString());
    const doc = await vscode.workspace.openTextDocument(uri);
    if (open) logs?.reload(uri); // already open: read it again now
    return await vscode.window.showTextDocument(doc, { preview: true });
  } catch (e) {
    showError(ctx, 'Show Logs failed', e);
    return undefined;
  }
}

/** Borg: Open State Folder — opens the agent's state dir in a new window. */
export async function openStateFolder(ctx: BorgContext, arg?: unknown): Promise<vscode.Uri | undefined> {
  const name = await target(ctx, arg, 'logs');
  if (!name) return undefined;
  const dir = ctx.pipeline.stateDirs.dir(name);
  if (!ctx.pipeline.stateDirs.exists(name)) {
    void vscode.window.showInformationMessage(`${name} has no state folder (${dir}).`);
    return undefined;
  }
  const uri = vscode.Uri.file(dir);
  await vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: true });
  return uri;
}

/**
 * Borg: Launch Agent. Asks for a persona when none is given, shows progress while the container
 * is created and started. Resolves with the launch result, or undefined after showing an error.
 */
export async function launch(ctx: BorgContext, persona?: string): Promise<LaunchResult | undefined> {
  if (!persona) {
    const pick = await vscode.window.showQuickPick(
      PERSONAS.map((p) => ({ label: p, description: PERSONA_DESCRIPTIONS[p] })),
      { title: 'Launch Agent', placeHolder: 'Persona of the new agent' },
    );
    if (!pick) return undefined;
    persona = pick.label;
  }
  const chosen = persona;
  try {
    const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: launching a ${chosen} agent…` }, () => ctx.pipeline.launch(chosen));
    ctx.log.info(`launched ${result.name}${result.reclaimed ? ' (reclaimed)' : ''} ${result.id.slice(0, 12)}`);
    vscode.window.setStatusBarMessage(`$(vm-running) Borg: ${result.name} started`, 5000);
    return result;
  } catch (e) {
    if (e instanceof InterruptedError) {
      // Cancelled from the tree or by Stop All while it waited: what the user asked for, not an error.
      ctx.log.info(`launch of a ${chosen} agent: ${e.message}`);
      vscode.window.setStatusBarMessage(`$(circle-slash) Borg: launch of a ${chosen} agent cancelled`, 5000);
    } else showError(ctx, 'Launch failed', e);
    return undefined;
  } finally {
    void ctx.refresh();
  }
}

/** Borg: Build Demo Agent Image — imports the offline busybox demo image. */
export async function buildDemo(ctx: BorgContext): Promise<boolean> {
  try {
    // Every Docker host needs the image: an agent runs the image of the daemon it is placed on.
    const members = membersOf(ctx.engine);
    const built = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: building ${DEMO_IMAGE}…` }, async () => {
      const done: boolean[] = [];
      for (const m of members) done.push(await buildDemoImage(m.engine));
      return done.some(Boolean);
    });
    const where = members.length > 1 ? ` on ${members.length} Docker hosts` : '';
    void vscode.window.showInformationMessage(built ? `Built ${DEMO_IMAGE}${where}.` : `${DEMO_IMAGE} is up to date${where}.`);
    void ctx.refresh(); // checks the agent image again (the image-missing welcome)
    return true;
  } catch (e) {
    showError(ctx, 'Building the demo image failed', e);
    return false;
  }
}

/**
 * Shows an error as a notification without waiting for it to be dismissed: a BorgError's
 * message alone (it says what to do), with an action button where one fits; anything else as
 * "<what>: <message>", never a stack trace. The full error goes to the log channel.
 */
export function showError(ctx: BorgContext, what: string, e: unknown): void {
  ctx.log.error(`${what}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  const text = e instanceof BorgError ? e.message : `${what}: ${e instanceof Error ? e.message : String(e)}`;
  if (e instanceof ImageMissingError && e.image === DEMO_IMAGE) {
    void vscode.window.showErrorMessage(text, 'Build Demo Image').then((action) => action && buildDemo(ctx));
  } else if (e instanceof DockerUnreachableError) {
    void vscode.window.showErrorMessage(text, 'Refresh').then((action) => action && ctx.refresh());
  } else {
    void vscode.window.showErrorMessage(text);
  }
}
