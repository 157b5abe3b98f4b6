import * as vscode from 'vscode';
import { buildDemoImage, DEMO_IMAGE } from '../core/demoImage';
import { BorgError, DockerUnreachableError, ImageMissingError, RefusedError } from '../core/errors';
import { LaunchResult, PERSONAS } from '../core/pipeline';
import type { ContainerInfo } from '../core/engine';
import { checkVerb, stateWords, Verb } from '../core/verbs';
import type { BorgContext } from './ctx';
import { Hardline, openHardline } from './hardlineTerminal';
import { registerContainerFiles } from './containerFilesNodes';
import { LogsDocuments, LOGS_SCHEME, toggleRawLogs } from './logsDocument';

const PERSONA_DESCRIPTIONS: Record<string, string> = {
  manager: 'writes the spec for a task',
  qa: 'writes tests that must fail on the current code',
  worker: 'changes the code until the tests pass',
};

/** Registers every `borg.*` command; one function per command, each taking the context. */
export function registerCommands(ctx: BorgContext): vscode.Disposable[] {
  const logs = new LogsDocuments(ctx.pipeline);
  return [
    vscode.commands.registerCommand('borg.launch', (persona?: unknown) => launch(ctx, typeof persona === 'string' ? persona : undefined)),
    vscode.commands.registerCommand('borg.refresh', () => ctx.refresh()),
    vscode.commands.registerCommand('borg.buildDemoImage', () => buildDemo(ctx)),
    vscode.commands.registerCommand('borg.stopAll', () => stopAll(ctx)),
    vscode.commands.registerCommand('borg.resume', () => resume(ctx)),
    vscode.commands.registerCommand('borg.hardline', (arg?: unknown) => hardline(ctx, arg)),
    vscode.commands.registerCommand('borg.reclaim', (arg?: unknown) => reclaim(ctx, arg)),
    vscode.commands.registerCommand('borg.stop', (arg?: unknown) => stop(ctx, arg)),
    vscode.commands.registerCommand('borg.remove', (arg?: unknown, opts?: { keepState?: boolean }) => remove(ctx, arg, opts)),
    vscode.commands.registerCommand('borg.showLogs', (arg?: unknown) => showLogs(ctx, arg, logs)),
    vscode.commands.registerCommand('borg.openStateFolder', (arg?: unknown) => openStateFolder(ctx, arg)),
    logs,
    vscode.workspace.registerTextDocumentContentProvider(LOGS_SCHEME, logs),
    vscode.commands.registerCommand('borg.toggleRawLogs', (uri?: unknown) => toggleRawLogs(uri instanceof vscode.Uri ? uri : undefined)),
    ...registerContainerFiles(ctx),
  ];
}

/**
 * The container a command acts on: a name (palette, tests), a tree item's container (context
 * menu), or — with neither — the user's pick among the containers whose state fits `verb`.
 */
async function target(ctx: BorgContext, arg: unknown, verb: Verb): Promise<string | undefined> {
  if (typeof arg === 'string' && arg) return arg;
  if (arg && typeof (arg as ContainerInfo).name === 'string') return (arg as ContainerInfo).name;
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
    checkVerb('hardline', await ctx.engine.inspect(name), name); // refuse before opening a terminal
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

/** Borg: Stop Agent — SIGTERM, then SIGKILL after borg.stopGraceSeconds. */
export async function stop(ctx: BorgContext, arg?: unknown): Promise<boolean> {
  const name = await target(ctx, arg, 'stop');
  if (!name) return false;
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: stopping ${name}…` }, () => ctx.pipeline.stopAgent(name));
    return true;
  } catch (e) {
    showError(ctx, 'Stop failed', e);
    return false;
  }
}

/**
 * Borg: Remove Agent — asks for confirmation and whether to keep the state dir (the agent's
 * credentials and history). Programmatic callers pass `{ keepState }` to skip the question.
 */
export async function remove(ctx: BorgContext, arg?: unknown, opts?: { keepState?: boolean }): Promise<boolean> {
  const name = await target(ctx, arg, 'remove');
  if (!name) return false;
  let keepState = opts?.keepState;
  if (keepState === undefined) {
    const keep = 'Remove, Keep State Folder';
    const drop = 'Remove and Delete State Folder';
    const answer = await vscode.window.showWarningMessage(
      `Remove ${name}?`,
      {
        modal: true,
        detail: `The container, its logs and its filesystem are deleted. Its state folder (${ctx.pipeline.stateDirs.dir(name)}) holds the agent's input, credentials and history; keep it to reuse it under this name.`,
      },
      keep,
      drop,
    );
    if (!answer) return false;
    keepState = answer === keep;
  }
  try {
    await ctx.pipeline.removeAgent(name, { keepState });
    return true;
  } catch (e) {
    showError(ctx, 'Remove failed', e);
    return false;
  }
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
    showError(ctx, 'Launch failed', e);
    return undefined;
  } finally {
    void ctx.refresh();
  }
}

/** Borg: Build Demo Agent Image — imports the offline busybox demo image. */
export async function buildDemo(ctx: BorgContext): Promise<boolean> {
  try {
    const built = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: building ${DEMO_IMAGE}…` }, () => buildDemoImage(ctx.engine));
    void vscode.window.showInformationMessage(built ? `Built ${DEMO_IMAGE}.` : `${DEMO_IMAGE} is up to date.`);
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
