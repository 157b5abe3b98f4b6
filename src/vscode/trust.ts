import * as vscode from 'vscode';

/**
 * Why Borg does nothing in Restricted Mode (VS Code's workspace trust,
 * `capabilities.untrustedWorkspaces: limited` in package.json): an agent or a task runs what the
 * workspace says — its settings pick the image, the test command and the Docker daemon, its
 * files are mounted — so an untrusted folder launches nothing and runs no task.
 */
export const UNTRUSTED_REASON =
  'This workspace is in Restricted Mode: Borg launches no agents and runs no tasks in an untrusted folder (its settings choose the image, the test command and the Docker daemon). Trust the folder to use Borg.';

/**
 * Wraps a command so that, in an untrusted workspace, it refuses with {@link UNTRUSTED_REASON}
 * (and a button to manage trust) and returns undefined instead of running.
 */
export function whenTrusted<A extends unknown[], R>(title: string, fn: (...args: A) => R): (...args: A) => R | undefined {
  return (...args: A) => {
    if (vscode.workspace.isTrusted) return fn(...args);
    void vscode.window.showWarningMessage(`${title}: ${UNTRUSTED_REASON}`, 'Manage Workspace Trust').then((pick) => {
      if (pick) void vscode.commands.executeCommand('workbench.trust.manage');
    });
    return undefined;
  };
}
