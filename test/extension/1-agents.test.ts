import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ContainerInfo } from '../../src/core/engine';
import { agentItem } from '../../src/vscode/agentItems';
import { api, docker, EXTENSION_ID, prefix, setConfig, until, usePrefix } from './helpers';

describe('Activation, launch and the Agents view', function () {
  this.timeout(120_000);

  it('activates and shows the agent count in the status bar', async () => {
    const { ctx } = await api();
    assert.ok(vscode.extensions.getExtension(EXTENSION_ID)!.isActive);
    await ctx.refresh();
    assert.match(ctx.statusBar.text, /^\$\(server-process\) \d+\/4 agents$/);
  });

  it('registers its commands in the palette', async () => {
    const all = await vscode.commands.getCommands(true);
    for (const c of ['borg.launch', 'borg.refresh', 'borg.buildDemoImage']) assert.ok(all.includes(c), c);
  });

  it('shows the Docker-unreachable state when the daemon cannot be reached, and launch fails without a stack trace', async () => {
    const { ctx } = await api();
    await setConfig('dockerHost', 'unix:///nonexistent/docker.sock');
    try {
      const down = await until('the down state', async () => {
        await ctx.refresh();
        return ctx.dockerStatus.down?.endpoint === 'unix:///nonexistent/docker.sock' && ctx.dockerStatus.down;
      });
      assert.equal(down.cause, 'setting', 'a missing socket named by borg.dockerHost: check the setting, not "Start Docker"');
      assert.ok(!ctx.agentsView.message, 'no tree message: it would hide the welcome view');
      assert.equal(ctx.statusBar.text, '$(server-process) Docker unreachable');
      const result = await vscode.commands.executeCommand('borg.launch', 'worker');
      assert.equal(result, undefined);
    } finally {
      await setConfig('dockerHost', undefined);
    }
    await until('Docker reachable again', async () => {
      await ctx.refresh();
      return ctx.pipeline.dockerError === undefined;
    });
    await until('the down state to clear', () => ctx.dockerStatus.down === undefined);
  });

  it('borg.launch starts a running container with the right name and labels', async () => {
    const { ctx } = await api();
    await usePrefix();
    const result = (await vscode.commands.executeCommand('borg.launch', 'worker')) as { name: string; id: string } | undefined;
    assert.ok(result, 'launch returned a result');
    assert.equal(result.name, `${prefix}-worker-0`);
    const info = await docker.getContainer(result.name).inspect();
    assert.equal(info.State.Running, true);
    assert.equal(info.HostConfig.AutoRemove, false);
    assert.equal(info.Config.Labels['borg.managed'], 'true');
    assert.equal(info.Config.Labels['borg.persona'], 'worker');
    assert.equal(info.Config.Labels['borg.workspace'], ctx.pipeline.workspaceId);
  });

  it('lists the launched agent in the Agents tree with its state, and counts it in the status bar', async () => {
    const { ctx } = await api();
    const name = `${prefix}-worker-0`;
    const item = await until('the tree item', () => {
      const c = ctx.agentsView.getChildren().find((c) => 'name' in c && c.name === name);
      return c && ctx.agentsView.getTreeItem(c);
    });
    assert.equal(item.label, name);
    assert.match(String(item.description), /^worker · running · up \d+s/);
    assert.equal(item.contextValue, 'borg.agent;stop;logs;');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'vm-running');
    await until('status bar 1/4', () => ctx.statusBar.text === '$(server-process) 1/4 agents');
  });

  it("an agent's row shows what the gateway metered, its network, and a replay for what it is", () => {
    const now = Date.now();
    const c: ContainerInfo = {
      id: 'f'.repeat(64),
      name: 'borg-worker-9',
      status: 'exited',
      exitCode: 0,
      createdAt: now - 120_000,
      image: 'borg-agent:demo',
      labels: { 'borg.limits': 'pids 512 · memory 4096 MiB · cpus 2 · network bridge · no capabilities · no-new-privileges', 'borg.gateway': 'true' },
      managed: true,
      persona: 'worker',
      inspected: true,
    };
    const item = agentItem(c, undefined, { usage: { requests: 3, inputTokens: 12_000, outputTokens: 345, costUsd: 0.0312 }, replayOf: 'replay of demo.jsonl' }, now);
    assert.equal(item.description, 'worker · exited 0 · 2m ago · $0.0312 · 12.3k tok');
    const tip = (item.tooltip as vscode.MarkdownString).value.replace(/\\/g, '');
    assert.match(tip, /\$\(warning\) network bridge: this agent can reach anything the host can/);
    assert.match(tip, /Model: replay of demo.jsonl \(not a model\)/);
    assert.match(tip, /Model use: 3 requests · in 12,000 · out 345 tok · \$0.0312/);
    const quiet = agentItem({ ...c, labels: { 'borg.gateway': 'true' } }, undefined, { usage: { requests: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 } }, now);
    assert.equal(quiet.description, 'worker · exited 0 · 2m ago', 'no model request yet: no cost');
    assert.match((quiet.tooltip as vscode.MarkdownString).value, /Network: gateway \(no network; the model only through Borg's gateway\)/);
  });
});
