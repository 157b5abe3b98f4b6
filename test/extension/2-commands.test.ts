import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Hardline } from '../../src/vscode/hardlineTerminal';
import { api, docker, until, usePrefix } from './helpers';

/** Launches a demo agent through the Pipeline with a given input and waits until it finished. */
async function finishedAgent(persona: string, input: Record<string, unknown>, extra: { memoryBytes?: number } = {}): Promise<string> {
  const { ctx } = await api();
  const r = await ctx.pipeline.launch(persona, { input, ...extra });
  await ctx.pipeline.agents.get(r.name)!.done;
  await ctx.refresh();
  return r.name;
}

async function treeItem(name: string, want: (item: vscode.TreeItem) => boolean): Promise<vscode.TreeItem> {
  const { ctx } = await api();
  return until(`the tree item of ${name}`, async () => {
    await ctx.refresh();
    const c = ctx.agentsView.getChildren().find((c) => 'name' in c && c.name === name);
    const item = c && ctx.agentsView.getTreeItem(c);
    return item && want(item) && item;
  });
}

describe('Hardline, reclaim, stop, remove and logs', function () {
  this.timeout(120_000);

  before(usePrefix);

  it('shows a crashed agent with the error icon and its exit code, and offers hardline', async () => {
    const name = await finishedAgent('qa', { sleepSeconds: 1, exitCode: 3 });
    const item = await treeItem(name, (i) => i.contextValue === 'borg.agent;hardline;remove;logs;');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'error');
    assert.match(String(item.description), /^qa · exited 3 · /);
  });

  it('hardline restarts a crashed agent, sends its input again and bridges its output to a terminal', async () => {
    const name = await finishedAgent('qa', { sleepSeconds: 2, exitCode: 5 });
    const h = (await vscode.commands.executeCommand('borg.hardline', name)) as Hardline | undefined;
    assert.ok(h, 'hardline returned its terminal');
    const agent = await h.agent;
    assert.equal((await docker.getContainer(name).inspect()).State.Running, true, 'running again');
    assert.ok(vscode.window.terminals.includes(h.terminal));
    assert.equal(h.terminal.name, `Hardline: ${name}`);
    await agent.done;
    await until('the terminal to show the output and the exit', () => /working 2\/2[\s\S]*exited with 5 \(crashed\)/.test(h.transcript()));
    h.terminal.dispose();
  });

  it('hardline refuses a running agent and names the state', async () => {
    const { ctx } = await api();
    const r = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 20 } });
    await assert.rejects(ctx.pipeline.hardline(r.name), /is running: hardline is for crashed agents/);
    assert.equal(await vscode.commands.executeCommand('borg.hardline', r.name), undefined);
    assert.equal(await vscode.commands.executeCommand('borg.stop', r.name), true);
    assert.equal((await docker.getContainer(r.name).inspect()).State.Running, false);
    assert.equal(ctx.pipeline.agents.get(r.name)?.state, 'stopped');
  });

  it('reclaim refuses a crashed agent with a message that points at hardline', async () => {
    const { ctx } = await api();
    const name = await finishedAgent('qa', { sleepSeconds: 1, exitCode: 2 });
    await assert.rejects(ctx.pipeline.reclaim(name), /crashed \(exited 2\): reclaim is for agents that exited cleanly\. Use Hardline/);
    assert.equal(await vscode.commands.executeCommand('borg.reclaim', name), undefined);
    assert.ok(await docker.getContainer(name).inspect(), 'the crashed container is kept');
  });

  it('reclaim runs a fresh agent under a cleanly exited name with the same state folder', async () => {
    const { ctx } = await api();
    const name = await finishedAgent('manager', { sleepSeconds: 1 });
    const before = await docker.getContainer(name).inspect();
    await treeItem(name, (i) => i.contextValue === 'borg.agent;reclaim;remove;logs;' && (i.iconPath as vscode.ThemeIcon).id === 'pass');
    const r = (await vscode.commands.executeCommand('borg.reclaim', name)) as { name: string; id: string; stateDir: string } | undefined;
    assert.ok(r, 'reclaim returned a result');
    assert.equal(r.name, name);
    assert.notEqual(r.id, before.Id);
    await ctx.pipeline.agents.get(name)!.done;
    const runs = fs.readFileSync(path.join(r.stateDir, 'runs.log'), 'utf8').trim().split('\n');
    assert.equal(runs.length, 2, 'both runs wrote to the same state folder');
  });

  it('shows an OOM-killed agent with the flame icon', async () => {
    const name = await finishedAgent('worker', { mode: 'oom' }, { memoryBytes: 8 * 1024 * 1024 });
    const item = await treeItem(name, (i) => i.contextValue === 'borg.agent;hardline;remove;logs;');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'flame');
    assert.match(String(item.description), /OOM-killed/);
  });

  it('show logs opens the container output in a read-only document', async () => {
    const name = await finishedAgent('worker', { sleepSeconds: 1 });
    const editor = (await vscode.commands.executeCommand('borg.showLogs', name)) as vscode.TextEditor | undefined;
    assert.ok(editor);
    assert.equal(editor.document.uri.scheme, 'borg-logs');
    assert.match(editor.document.getText(), /working 1\/1/);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('remove deletes the container and, unless kept, its state folder', async () => {
    const { ctx } = await api();
    const kept = await finishedAgent('worker', { sleepSeconds: 1 });
    const dropped = await finishedAgent('worker', { sleepSeconds: 1 });
    assert.equal(await vscode.commands.executeCommand('borg.remove', kept, { keepState: true }), true);
    assert.equal(await vscode.commands.executeCommand('borg.remove', dropped, { keepState: false }), true);
    await assert.rejects(docker.getContainer(kept).inspect(), /no such container/i);
    await assert.rejects(docker.getContainer(dropped).inspect(), /no such container/i);
    assert.equal(ctx.pipeline.stateDirs.exists(kept), true);
    assert.equal(ctx.pipeline.stateDirs.exists(dropped), false);
  });
});
