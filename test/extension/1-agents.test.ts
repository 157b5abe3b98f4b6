import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ContainerInfo } from '../../src/core/engine';
import { agentItem, groupItem, lookOf } from '../../src/vscode/agentItems';
import type { AgentsNode, ContainerNode, GroupNode } from '../../src/vscode/agentTree';
import type { ViewNode } from '../../src/vscode/agentsView';
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
    // A refresh from Docker's events may list it between create and start ("created"): wait for the running row.
    const item = await until('the running tree item', () => {
      const c = ctx.agentsView.row(name);
      return c?.info.status === 'running' && ctx.agentsView.getTreeItem(c);
    });
    assert.equal(item.label, name);
    assert.match(String(item.description), /^running · up <1 min/);
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
      createdAt: now - 600_000,
      finishedAt: new Date(now - 120_000).toISOString(),
      image: 'borg-agent:demo',
      labels: { 'borg.limits': 'pids 512 · memory 4096 MiB · cpus 2 · network bridge · no capabilities · no-new-privileges', 'borg.gateway': 'true' },
      managed: true,
      persona: 'worker',
      inspected: true,
    };
    const item = agentItem(c, undefined, { usage: { requests: 3, inputTokens: 12_000, outputTokens: 345, costUsd: 0.0312 }, replayOf: 'replay of demo.jsonl' }, now);
    assert.equal(item.description, 'exited 0 · 2 min ago · $0.0312 · 12.3k tok', 'counted from the exit, not the creation');
    const tip = (item.tooltip as vscode.MarkdownString).value.replace(/\\/g, '');
    assert.match(tip, /\$\(warning\) network bridge: this agent can reach anything the host can/);
    assert.match(tip, /Model: replay of demo.jsonl \(not a model\)/);
    assert.match(tip, /Model use: 3 requests · in 12,000 · out 345 tok · \$0.0312/);
    const quiet = agentItem({ ...c, labels: { 'borg.gateway': 'true' } }, undefined, { usage: { requests: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 } }, now);
    assert.equal(quiet.description, 'exited 0 · 2 min ago', 'no model request yet: no cost');
    assert.match((quiet.tooltip as vscode.MarkdownString).value, /Network: gateway \(no network; the model only through Borg's gateway\)/);
  });

  it("a row names its host (tooltip always, description across hosts); a host's group reads running/slots or down, all as inert text", () => {
    const now = Date.now();
    const hostile = 'h1 $(bug) [x](command:borg.stopAll) **b**\u001b[31m\u202e\nnext';
    const c: ContainerInfo = {
      id: 'e'.repeat(64),
      name: 'borg-worker-7',
      status: 'running',
      createdAt: now - 60_000,
      image: 'borg-agent:demo',
      labels: {},
      managed: true,
      persona: 'worker',
      inspected: true,
      host: hostile,
    };
    const one = agentItem(c, undefined, {}, now, { word: 'Node' });
    assert.equal(one.description, 'running · created 1 min ago', 'one host: the description is as before');
    const many = agentItem(c, undefined, {}, now, { word: 'Host', inDescription: true });
    assert.equal(many.description, 'running · created 1 min ago · h1 $(bug) [x](command:borg.stopAll) **b** next', 'one plain line: controls, escapes and bidi dropped');
    assert.equal(one.id, 'borg-worker-7');
    assert.equal(many.id, `host:${encodeURIComponent(hostile)}/borg-worker-7`, 'a name can be on two hosts: the id carries the host');
    const tip = (one.tooltip as vscode.MarkdownString).value;
    assert.match(tip, /Node: h1 \\\$\\\(bug\\\) \\\[x\\\]\\\(command:borg\\\.stopAll\\\) \\\*\\\*b\\\*\\\* next/, tip);
    assert.equal((one.tooltip as vscode.MarkdownString).isTrusted, undefined, 'no command links in a row tooltip');
    const state = { name: 'h1', address: 'unix:///run/h1.sock', slots: 2, up: true };
    const group: GroupNode = {
      kind: 'group',
      id: 'group:host:h1',
      label: 'h1',
      icon: 'server',
      children: [{ kind: 'container', name: c.name, info: c, hostShown: true }],
      host: { word: 'Host', count: { name: 'h1', agents: 1, running: 1, state } },
    };
    const up = groupItem(group, [c], 0);
    assert.equal(up.description, '1/2 agents');
    assert.equal((up.iconPath as vscode.ThemeIcon).id, 'server');
    assert.equal(up.collapsibleState, vscode.TreeItemCollapsibleState.Expanded);
    const downGroup: GroupNode = {
      ...group,
      children: [],
      icon: 'warning',
      host: { word: 'Host', count: { name: 'h1', agents: 0, running: 0, state: { ...state, up: false, error: 'connect ENOENT\n/run/h1.sock' } } },
    };
    const down = groupItem(downGroup, [], 0);
    assert.equal(down.description, 'down — connect ENOENT /run/h1.sock');
    assert.equal((down.iconPath as vscode.ThemeIcon).id, 'warning');
    assert.equal(down.collapsibleState, vscode.TreeItemCollapsibleState.None, 'nothing to expand');
    assert.match((down.tooltip as vscode.MarkdownString).value, /Down: connect ENOENT \/run\/h1\\\.sock/);
  });

  it('a chatty agent repaints its own row (the object the tree got), throttled, and never the whole tree per line', async () => {
    const { ctx } = await api();
    await vscode.commands.executeCommand('borg.agents.focus');
    await until('the Agents view visible', () => ctx.agentsView.treeView.visible);
    const LINES = 400;
    const events: Array<ViewNode | ViewNode[] | void> = [];
    let lines = 0;
    const subs = [ctx.agentsView.onDidChangeTreeData((e) => events.push(e)), ctx.pipeline.onDidOutput(() => lines++)];
    try {
      const r = await ctx.pipeline.launch('worker', {
        stdin: false,
        entrypoint: ['/bin/sh', '-c', `i=0; while [ $i -lt ${LINES} ]; do echo "line $i"; i=$((i+1)); done; sleep 60`],
      });
      await until('every line read', () => r.agent.lastLine === `line ${LINES - 1}` && lines >= LINES);
      // The running row (a refresh from Docker's events may have listed it as "created" first).
      const row = await until('the running row', () => {
        const c = ctx.agentsView.row(r.name);
        return c?.info.status === 'running' && c;
      });
      const fullBefore = ctx.agentsView.fullRepaints;
      // A row repaint for the last line comes (throttled) after it; wait for it, not for time.
      await until('the last line painted', () => events.some((e) => Array.isArray(e) && e.includes(row)) && String(ctx.agentsView.getTreeItem(row).description).endsWith(`line ${LINES - 1}`));
      const rowEvents = events.filter((e) => Array.isArray(e) && e.some((n) => n.kind === 'container' && n.name === r.name));
      const full = events.filter((e) => e === undefined).length;
      assert.ok(rowEvents.length >= 1 && rowEvents.length < LINES / 10, `${rowEvents.length} row repaints for ${LINES} lines`);
      assert.ok(full < 10, `${full} full repaints while ${LINES} lines came (launch and refreshes only)`);
      assert.equal(ctx.agentsView.fullRepaints, fullBefore, 'no full repaint for the last line');
      for (const e of rowEvents) for (const n of e as AgentsNode[]) assert.equal(n, ctx.agentsView.row((n as ContainerNode).name), 'the same object the tree got');
      await ctx.pipeline.stopAgent(r.name);
    } finally {
      for (const s of subs) s.dispose();
    }
  });

  it('groups rows by task then phase, loose agents apart; by state on request; each row names its task and phase', async () => {
    const { ctx } = await api();
    await usePrefix();
    const r = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 1 }, labels: { 'borg.task': '9001', 'borg.phase': 'impl' } });
    await r.agent.done;
    await ctx.refresh();
    const path = await until('the row under its task and phase', () => {
      const roots = ctx.agentsView.childrenOf();
      const taskGroup = roots.find((n) => n.kind === 'group' && n.label === 'Task #9001');
      const phase = taskGroup && ctx.agentsView.childrenOf(taskGroup).find((n) => n.kind === 'group' && n.label === 'impl');
      const row = phase && ctx.agentsView.childrenOf(phase).find((n) => n.kind === 'container' && n.name === r.name);
      const exited = row && /^exited 0 ·/.test(String(ctx.agentsView.getTreeItem(row).description));
      return exited && { taskGroup, phase, row, loose: roots.find((n) => n.kind === 'group' && n.label === 'No task') };
    });
    assert.ok(path.loose, 'agents without a task sit apart under "No task"');
    assert.match(String(ctx.agentsView.getTreeItem(path.row).description), /^exited 0 · <1 min ago · #9001 impl$/);
    assert.match(String(ctx.agentsView.getTreeItem(path.taskGroup).description), /^1 agent$/);
    assert.equal(await vscode.commands.executeCommand('borg.agents.groupBy', 'state'), 'state');
    try {
      await until('grouped by state', () => {
        const clean = ctx.agentsView.childrenOf().find((n) => n.kind === 'group' && n.label === 'Exited cleanly');
        return clean && ctx.agentsView.childrenOf(clean).some((n) => n.kind === 'container' && n.name === r.name);
      });
    } finally {
      await vscode.commands.executeCommand('borg.agents.groupBy', 'task');
    }
    await until('grouped by task again', () => ctx.agentsView.childrenOf().some((n) => n.kind === 'group' && n.label === 'Task #9001'));
  });

  it('the look table: stopped is neutral with reclaim, timed out and crashed and OOM-killed are red with hardline', () => {
    const base: ContainerInfo = {
      id: 'e'.repeat(64),
      name: 'borg-worker-1',
      status: 'exited',
      exitCode: 143,
      oomKilled: false,
      createdAt: 0,
      image: 'i',
      labels: {},
      managed: true,
      persona: 'worker',
      inspected: true,
    };
    const rows: Array<[Partial<ContainerInfo>, string, string, string | undefined, string]> = [
      [{ endedBy: 'stopped' }, 'debug-stop', 'stopped', 'icon.foreground', 'borg.agent;reclaim;remove;logs;'],
      [{ endedBy: 'timed-out' }, 'watch', 'timed out', 'testing.iconFailed', 'borg.agent;hardline;remove;logs;'],
      [{}, 'error', 'exited 143', 'testing.iconFailed', 'borg.agent;hardline;remove;logs;'],
      [{ oomKilled: true, exitCode: 137, endedBy: 'stopped' }, 'flame', 'OOM-killed', 'testing.iconFailed', 'borg.agent;hardline;remove;logs;'],
      [{ exitCode: 0 }, 'pass', 'exited 0', 'testing.iconPassed', 'borg.agent;reclaim;remove;logs;'],
      [{ status: 'running', exitCode: undefined, endedBy: 'stopped' }, 'vm-running', 'running', 'testing.iconPassed', 'borg.agent;stop;logs;'],
    ];
    for (const [extra, icon, words, color, contextValue] of rows) {
      const look = lookOf({ ...base, ...extra });
      const what = JSON.stringify(extra);
      assert.equal(look.icon.id, icon, what);
      assert.equal(look.words, words, what);
      assert.equal((look.icon.color as vscode.ThemeColor | undefined)?.id, color, what);
      assert.equal(look.contextValue, contextValue, what);
    }
  });
});
