import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, EXTENSION_ID, setConfig, until } from './helpers';

describe('Settings, first steps and the status bar', function () {
  this.timeout(60_000);

  it('a bad setting value is its default, with one warning that names the setting and the default', async () => {
    const { ctx } = await api();
    await setConfig('maxParallelAgents', 100);
    await setConfig('onShutdown', 'explode');
    try {
      await until('the warnings', () => ctx.config.warnings.length >= 2);
      assert.equal(ctx.config.maxParallelAgents, 4, 'the default, not 100 clamped to 32');
      assert.equal(ctx.config.onShutdown, 'detach');
      assert.ok(ctx.config.warnings.includes('borg.maxParallelAgents is 100; it must be a whole number from 1 to 32. Using the default, 4.'), ctx.config.warnings.join('\n'));
      assert.ok(ctx.config.warnings.includes('borg.onShutdown is "explode"; it must be one of detach, stop. Using detach.'));
    } finally {
      await setConfig('maxParallelAgents', undefined);
      await setConfig('onShutdown', undefined);
    }
    await until('no warnings once fixed', () => ctx.config.warnings.length === 0);
    assert.equal(ctx.pipeline.maxParallel, 4);
  });

  it('registers every command package.json contributes', async () => {
    await api();
    const contributed = (vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { commands: Array<{ command: string }> } }).contributes.commands.map((c) => c.command);
    const all = new Set(await vscode.commands.getCommands(true));
    assert.deepEqual(
      contributed.filter((c) => !all.has(c)),
      [],
    );
  });

  it('Borg: Get Started opens the walkthrough editor', async () => {
    await api();
    // The walkthrough editor's tab reads "Walkthrough: Borg Pipeline" in code-server with the
    // installed .vsix, "Welcome" in an extension development host; the ui test reads its steps.
    const open = () => vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.label === 'Walkthrough: Borg Pipeline' || t.label === 'Welcome'));
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    assert.ok(!open(), 'not open before');
    await vscode.commands.executeCommand('borg.getStarted');
    await until('the walkthrough tab', open).catch((e: Error) => {
      throw new Error(`${e.message}; tabs: ${vscode.window.tabGroups.all.flatMap((g) => g.tabs.map((t) => t.label)).join(', ')}`);
    });
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it("the status bar item's accessible label is words, with a role", async () => {
    const { ctx } = await api();
    await ctx.refresh();
    const a11y = ctx.statusBar.item.accessibilityInformation;
    assert.equal(a11y?.role, 'button');
    assert.match(a11y?.label ?? '', /^\d+ of 4 agents running/);
    assert.doesNotMatch(a11y?.label ?? '', /\$\(|·/);
  });
});
