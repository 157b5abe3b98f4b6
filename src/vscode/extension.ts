import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { BorgContext } from './ctx';
import { registerGetStarted } from './getStarted';
import { registerTaskCommands } from './taskCommands';

/** What `activate` returns: the context, for tests and for extensions that build on Borg. */
export interface BorgApi {
  ctx: BorgContext;
}

let current: BorgContext | undefined;

/** Composes the extension: builds the context, registers commands, starts a first refresh (not awaited, so activation stays fast). */
export async function activate(context: vscode.ExtensionContext): Promise<BorgApi> {
  context.subscriptions.push(registerGetStarted(context));
  const ctx = await BorgContext.create(context);
  current = ctx;
  for (const d of [...registerCommands(ctx), ...registerTaskCommands(ctx)]) context.subscriptions.push(d);
  context.subscriptions.push({ dispose: () => void ctx.shutdown() });
  void ctx.refresh();
  return { ctx };
}

/**
 * VS Code awaits the returned promise (for about 5 s) before ending the extension host: it
 * resolves after scheduling stopped, every agent was joined and the database was flushed.
 */
export function deactivate(): Promise<void> | undefined {
  const ctx = current;
  current = undefined;
  return ctx?.shutdown();
}
