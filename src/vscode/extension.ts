import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { BorgContext } from './ctx';
import { registerGetStarted } from './getStarted';
import { contributedCommands, startFailedText, StartupCommands } from './startupCommands';
import { registerTaskCommands } from './taskCommands';

/** What `activate` returns, for tests and for extensions that build on Borg. */
export interface BorgApi {
  /**
   * Resolves with the context once the database is open, the views are registered and every
   * command is the real one; rejects when Borg could not start in this window (the error was
   * shown).
   */
  ready: Promise<BorgContext>;
}

/** This activation's start; deactivate() shuts down what it started. */
let starting: Promise<BorgContext> | undefined;

/**
 * Composes the extension. Returns at once (VS Code's activation is over: nothing it holds up
 * waits for the database): registers the walkthrough's command and a stand-in for every other
 * command (startupCommands.ts), then, in the background, opens the database and builds the
 * context (which can wait up to 6 s for a reloading window's lock), swaps in the real commands
 * and starts a first refresh (not awaited).
 */
export function activate(context: vscode.ExtensionContext): BorgApi {
  context.subscriptions.push(registerGetStarted(context));
  const standIns = new StartupCommands(contributedCommands(context, ['borg.getStarted']), () => ready);
  context.subscriptions.push(standIns);
  const ready = (async () => {
    // The stand-ins go just before the context registers its own commands (takeOver, showDockerError).
    const ctx = await BorgContext.create(context, () => standIns.dispose());
    for (const d of [...registerCommands(ctx), ...registerTaskCommands(ctx)]) context.subscriptions.push(d);
    context.subscriptions.push({ dispose: () => void ctx.shutdown() });
    void ctx.refresh();
    return ctx;
  })();
  ready.catch((e: unknown) => void vscode.window.showErrorMessage(startFailedText(e)));
  starting = ready;
  return { ready };
}

/**
 * VS Code awaits the returned promise (for about 5 s) before ending the extension host: it
 * resolves after scheduling stopped, every agent was joined and the database was flushed. A start
 * still under way is finished first (then shut down); a failed start has nothing to shut down.
 */
export function deactivate(): Promise<void> | undefined {
  const s = starting;
  starting = undefined;
  return s?.then(
    (ctx) => ctx.shutdown(),
    () => undefined,
  );
}
