import * as vscode from 'vscode';

/**
 * Borg's commands while it starts. `activate()` returns before the database is open (opening it
 * can wait up to 6 s for a reloading window's lock, and VS Code holds up what waits on an
 * activation until it resolves), so for that moment every contributed command id has this
 * stand-in: run from the palette, a keybinding or a welcome-view link, it waits for the start and
 * then runs the real command with the same arguments; when the start failed it says why. VS Code
 * would otherwise answer "command not found", because a contributed command of an extension that
 * has already activated is not waited for.
 *
 * Lifetime: created by `activate()`; `dispose()` (before the real commands are registered under
 * the same ids: VS Code refuses a second registration of an id) ends every stand-in.
 */
export class StartupCommands implements vscode.Disposable {
  private readonly registrations: vscode.Disposable[];

  /** `ids`: the command ids to stand in for; `ready`: the start (its rejection is the reason shown). */
  constructor(ids: readonly string[], ready: () => Promise<unknown>) {
    this.registrations = ids.map((id) =>
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          await ready();
        } catch (e) {
          void vscode.window.showErrorMessage(startFailedText(e));
          return undefined;
        }
        return vscode.commands.executeCommand(id, ...args);
      }),
    );
  }

  dispose(): void {
    for (const r of this.registrations.splice(0)) r.dispose();
  }
}

/** The command ids `package.json` contributes (`contributes.commands[].command`), but for `except`. */
export function contributedCommands(extension: vscode.ExtensionContext, except: readonly string[]): string[] {
  const json = extension.extension.packageJSON as { contributes?: { commands?: Array<{ command?: unknown }> } };
  return (json.contributes?.commands ?? []).map((c) => c.command).filter((id): id is string => typeof id === 'string' && !except.includes(id));
}

/** The message shown when Borg could not start in this window (the database could not be opened, …), with what to do. */
export function startFailedText(e: unknown): string {
  const why = e instanceof Error ? e.message : String(e);
  return `Borg could not start in this window: ${why.replace(/\.$/, '')}. Fix the cause, then run Developer: Reload Window.`;
}
