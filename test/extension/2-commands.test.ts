import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ContainerNode } from '../../src/vscode/agentTree';
import type { Hardline } from '../../src/vscode/hardlineTerminal';
import { api, docker, setConfig, until, usePrefix } from './helpers';

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
    const c = ctx.agentsView.row(name);
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
    assert.match(String(item.description), /^exited 3 · /);
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

  it('a stopped agent reads "stopped" with a neutral icon and offers reclaim and remove, not hardline', async () => {
    const { ctx } = await api();
    const r = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 30 } });
    assert.equal(await vscode.commands.executeCommand('borg.stop', r.name), true);
    assert.equal((await docker.getContainer(r.name).inspect()).State.ExitCode, 143, 'Docker says 143, as for a crash');
    const item = await treeItem(r.name, (i) => String(i.description).startsWith('stopped'));
    assert.equal(item.contextValue, 'borg.agent;reclaim;remove;logs;');
    const icon = item.iconPath as vscode.ThemeIcon;
    assert.equal(icon.id, 'debug-stop');
    assert.equal((icon.color as vscode.ThemeColor | undefined)?.id, 'icon.foreground', 'the neutral icon colour: not an error');
    assert.match(String(item.description), /^stopped · <1 min ago/);
    assert.equal(await vscode.commands.executeCommand('borg.hardline', r.name), undefined, 'hardline refused');
    const again = (await vscode.commands.executeCommand('borg.reclaim', r.name)) as { name: string } | undefined;
    assert.equal(again?.name, r.name, 'reclaimed under its name');
    await ctx.pipeline.stopAgent(r.name);
  });

  it('Stop Agent with several rows selected stops them all (VS Code passes the clicked row and the selection)', async () => {
    const { ctx } = await api();
    const a = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 30 } });
    const b = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 30 } });
    const rows = await until('both rows', async () => {
      await ctx.refresh();
      const ra = ctx.agentsView.row(a.name);
      const rb = ctx.agentsView.row(b.name);
      return ra?.info.status === 'running' && rb?.info.status === 'running' && [ra, rb]; // not a "created" row listed between create and start
    });
    assert.equal(await vscode.commands.executeCommand('borg.stop', rows[0], rows), true);
    assert.equal(a.agent.state, 'stopped');
    assert.equal(b.agent.state, 'stopped');
    for (const n of [a.name, b.name]) assert.equal((await docker.getContainer(n).inspect()).State.Running, false);
    const stopped = await until('both rows stopped', async () => {
      await ctx.refresh();
      const rs = [ctx.agentsView.row(a.name), ctx.agentsView.row(b.name)];
      return rs.every((r) => r?.info.status === 'exited') && (rs as ContainerNode[]);
    });
    assert.equal(await vscode.commands.executeCommand('borg.stop', stopped[0], stopped), false, 'none of them runs: nothing to stop, nothing failed');
    assert.equal(await vscode.commands.executeCommand('borg.remove', stopped[1], stopped, { keepState: true }), true);
    for (const n of [a.name, b.name]) await assert.rejects(docker.getContainer(n).inspect(), /no such container/i);
  });

  it('a queued launch shows how many wait ahead and is cancelled from the tree without an error', async () => {
    const { ctx } = await api();
    await ctx.pipeline.stopAll();
    await setConfig('maxParallelAgents', 1);
    try {
      await until('one slot', () => ctx.pipeline.maxParallel === 1);
      const holder = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 30 } });
      const launching = vscode.commands.executeCommand('borg.launch', 'qa');
      const node = await until('the queued row', () => {
        const loose = ctx.agentsView.childrenOf().find((n) => n.kind === 'group' && n.label === 'No task');
        return loose && ctx.agentsView.childrenOf(loose).find((n) => n.kind === 'queued');
      });
      const item = ctx.agentsView.getTreeItem(node);
      assert.match(String(item.description), /^waiting for a slot \(next\) · <1 min$/);
      assert.equal(item.contextValue, 'borg.queued;cancel;');
      assert.equal(await vscode.commands.executeCommand('borg.cancelLaunch', node), true);
      assert.equal(await launching, undefined, 'the launch resolved (cancelled), no error');
      assert.equal(ctx.pipeline.queued.length, 0);
      await ctx.pipeline.stopAgent(holder.name);
    } finally {
      await setConfig('maxParallelAgents', undefined);
    }
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

  it('Remove Exited Agents removes the clean and stopped ones, crashed ones only when asked, and keeps state folders', async () => {
    const { ctx } = await api();
    const clean = await finishedAgent('worker', { sleepSeconds: 1 });
    const crashed = await finishedAgent('qa', { sleepSeconds: 1, exitCode: 4 });
    const removed = (await vscode.commands.executeCommand('borg.removeExited', { crashed: false })) as string[];
    assert.ok(removed.includes(clean) && !removed.includes(crashed), removed.join(', '));
    await assert.rejects(docker.getContainer(clean).inspect(), /no such container/i);
    assert.ok(await docker.getContainer(crashed).inspect(), 'the crashed one is kept for hardline');
    assert.equal(ctx.pipeline.stateDirs.exists(clean), true, 'state folder kept');
    const also = (await vscode.commands.executeCommand('borg.removeExited', { crashed: true })) as string[];
    assert.ok(also.includes(crashed));
    await assert.rejects(docker.getContainer(crashed).inspect(), /no such container/i);
    assert.ok(
      ctx.pipeline.containers.every((c) => c.status !== 'exited'),
      'nothing exited left',
    );
  });
});
