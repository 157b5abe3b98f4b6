import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { DEMO_IMAGE } from '../../src/core/demoImage';
import type { Engine } from '../../src/core/engine';
import { api, docker, prefix, removeSuiteContainers, setConfig, until } from './helpers';

/** Counts every Engine method called on `engine` (own properties shadowing the prototype's) until `restore()`. */
function countCalls(engine: Engine): { list: string[]; restore: () => void } {
  const list: string[] = [];
  const names = ['ping', 'list', 'inspect', 'create', 'start', 'stop', 'kill', 'remove', 'wait', 'attach', 'logs', 'containerEvents', 'events', 'image', 'followLogs'] as const;
  const e = engine as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const n of names) {
    const original = e[n];
    e[n] = (...a: unknown[]) => {
      list.push(n);
      return original.apply(engine, a);
    };
  }
  return { list, restore: () => names.forEach((n) => delete e[n]) };
}

describe('Docker endpoints, live refresh and down states', function () {
  this.timeout(120_000);
  after(removeSuiteContainers);

  it('a borg.dockerHost that goes nowhere: the "check the setting" state with the address and the error; clearing it recovers without a reload', async () => {
    const { ctx } = await api();
    await setConfig('dockerHost', 'unix:///nonexistent/docker.sock');
    try {
      const down = await until('the down state', () => ctx.dockerStatus.down?.endpoint === 'unix:///nonexistent/docker.sock' && ctx.dockerStatus.down);
      assert.equal(down.cause, 'setting');
      assert.equal(down.chosenBy, 'borg.dockerHost');
      assert.match(down.advice, /^Check borg\.dockerHost/);
      assert.match(String(ctx.agentsView.treeView.description), /^unix:\/\/\/nonexistent\/docker\.sock — .*ENOENT/);
      await setConfig('dockerHost', 'ssh://me@host');
      const bad = await until('the invalid-address state', () => ctx.dockerStatus.down?.endpoint === 'ssh://me@host' && ctx.dockerStatus.down);
      assert.equal(bad.cause, 'setting');
      assert.match(bad.error, /is an ssh host whose key is not in .*known_hosts/); // refused before any connection
      assert.equal(ctx.pipeline.containers.length, 0, 'no other daemon is used meanwhile');
    } finally {
      await setConfig('dockerHost', undefined);
    }
    await until('Docker reachable again', () => ctx.dockerStatus.down === undefined && ctx.pipeline.dockerError === undefined);
    assert.equal(ctx.agentsView.treeView.description, undefined);
  });

  it('with the Borg view visible, a docker run and a docker rm done outside Borg show without a refresh', async () => {
    const { ctx } = await api();
    await vscode.commands.executeCommand('workbench.view.extension.borg');
    await until('the event stream to open', () => ctx.live.active && ctx.live.watch.connected);
    const name = `${prefix}-outside-0`;
    const c = await docker.createContainer({
      name,
      Image: DEMO_IMAGE,
      Entrypoint: ['sleep'],
      Cmd: ['60'],
      Labels: { 'borg.managed': 'true', 'borg.persona': 'worker', 'borg.workspace': ctx.pipeline.workspaceId },
      HostConfig: { NetworkMode: 'none' },
    });
    await c.start();
    await until('the container to show', () => ctx.pipeline.containers.some((x) => x.name === name && x.status === 'running'));
    await c.remove({ force: true });
    await until('the container to go', () => !ctx.pipeline.containers.some((x) => x.name === name));
  });

  it('with the views hidden and nothing running, the event stream is closed and the safety dispatch makes no Docker call', async () => {
    const { ctx } = await api();
    await until('no agent running', () => ctx.pipeline.runningCount === 0);
    const calls = countCalls(ctx.engine);
    try {
      await vscode.commands.executeCommand('workbench.action.closeSidebar');
      await until('no Borg view visible', () => !ctx.agentsView.treeView.visible && !ctx.tasksView.treeView.visible);
      await until('the watch to stop', () => !ctx.live.active && !ctx.live.watch.connected);
      calls.list.length = 0;
      ctx.scheduler.dispatch(); // what the 30 s safety timer does
      ctx.statusBar.refresh();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(calls.list, [], 'no Docker call while hidden and idle');
      await vscode.commands.executeCommand('workbench.view.extension.borg');
      await until('the watch on again', () => ctx.live.active && ctx.live.watch.connected);
      assert.equal(calls.list[0], 'events', 'visible again: the stream is opened first');
    } finally {
      calls.restore();
    }
  });
});
