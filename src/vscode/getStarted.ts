import * as vscode from 'vscode';

/** The walkthrough's id in package.json `contributes.walkthroughs`. */
export const WALKTHROUGH_ID = 'borg.getStarted';

/**
 * Registers `borg.getStarted`: opens the Get Started walkthrough (package.json
 * `contributes.walkthroughs`, steps in media/walkthrough/). VS Code names a walkthrough
 * `<publisher>.<name>#<id>` (`workbench.action.openWalkthrough`), so the extension's own id is
 * used. Registered before the context is built, so it works even when Borg's database cannot
 * be opened.
 */
export function registerGetStarted(extension: vscode.ExtensionContext): vscode.Disposable {
  return vscode.commands.registerCommand('borg.getStarted', () => vscode.commands.executeCommand('workbench.action.openWalkthrough', `${extension.extension.id}#${WALKTHROUGH_ID}`, false));
}
