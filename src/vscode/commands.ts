import * as vscode from 'vscode';
import { buildDemoImage, DEMO_IMAGE } from '../core/demoImage';
import { BorgError, DockerUnreachableError, ImageMissingError } from '../core/errors';
import { LaunchResult, PERSONAS } from '../core/pipeline';
import type { BorgContext } from './ctx';

const PERSONA_DESCRIPTIONS: Record<string, string> = {
  manager: 'writes the spec for a task',
  qa: 'writes tests that must fail on the current code',
  worker: 'changes the code until the tests pass',
};

/** Registers every `borg.*` command; one function per command, each taking the context. */
export function registerCommands(ctx: BorgContext): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('borg.launch', (persona?: unknown) => launch(ctx, typeof persona === 'string' ? persona : undefined)),
    vscode.commands.registerCommand('borg.refresh', () => ctx.refresh()),
    vscode.commands.registerCommand('borg.buildDemoImage', () => buildDemo(ctx)),
  ];
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
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Borg: launching a ${chosen} agent…` },
      () => ctx.pipeline.launch(chosen),
    );
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
    const built = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Borg: building ${DEMO_IMAGE}…` },
      () => buildDemoImage(ctx.engine),
    );
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
