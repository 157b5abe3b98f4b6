import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import initSqlJs from 'sql.js';
import * as vscode from 'vscode';
import type { BorgApi } from '../../src/vscode/extension';

const EXTENSION_ID = 'borg-pipeline.borg-pipeline';
const docker = new Docker();
const prefix = `borgt${process.pid}x${Math.floor(Math.random() * 1e6)}`;

async function api(): Promise<BorgApi> {
  const ext = vscode.extensions.getExtension<BorgApi>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is installed in the host`);
  return ext.activate();
}

async function setConfig(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('borg').update(key, value, vscode.ConfigurationTarget.Workspace);
}

async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Borg Pipeline in a real extension host', function () {
  this.timeout(120_000);

  after(async () => {
    const left = await docker.listContainers({ all: true, filters: { name: [`^/${prefix}-`] } });
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  });

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

  it('shows the Docker-unreachable message when the daemon cannot be reached, and launch fails without a stack trace', async () => {
    const { ctx } = await api();
    await setConfig('dockerHost', 'unix:///nonexistent/docker.sock');
    try {
      await until('the view message', async () => {
        await ctx.refresh();
        return ctx.agentsView.message?.includes('unix:///nonexistent/docker.sock');
      });
      assert.match(ctx.agentsView.message!, /^Docker is not reachable at unix:\/\/\/nonexistent\/docker\.sock: .+\. Start Docker, then Refresh\.$/);
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
    await until('the message to clear', () => ctx.agentsView.message === undefined);
  });

  it('borg.launch starts a running container with the right name and labels', async () => {
    const { ctx } = await api();
    await setConfig('containerPrefix', prefix);
    await until('the prefix setting', () => ctx.config.prefix === prefix);
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
      const c = ctx.agentsView.getChildren().find((c) => c.name === name);
      return c && ctx.agentsView.getTreeItem(c);
    });
    assert.equal(item.label, name);
    assert.match(String(item.description), /^worker · running · up \d+s/);
    assert.equal(item.contextValue, 'borg.agent.running');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'vm-running');
    await until('status bar 1/4', () => ctx.statusBar.text === '$(server-process) 1/4 agents');
  });

  it('deactivate resolves after joining the agent and leaves the database on disk with its row', async () => {
    const { ctx } = await api();
    const name = `${prefix}-worker-0`;
    const dbFile = ctx.store.file;
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const main = require(path.join(ext.extensionPath, 'dist', 'extension.js')) as { deactivate(): Promise<void> | undefined };
    const done = main.deactivate();
    assert.ok(done, 'deactivate returns a promise');
    await done;
    assert.equal(ctx.pipeline.isStopped, true);
    assert.equal(ctx.pipeline.agents.get(name)?.state, 'detached');
    assert.ok(fs.existsSync(dbFile), `${dbFile} exists`);
    const SQL = await initSqlJs();
    const db = new SQL.Database(fs.readFileSync(dbFile));
    const rows = db.exec('SELECT name, persona, state FROM containers WHERE name = ?', [name]);
    assert.deepEqual(rows[0]?.values, [[name, 'worker', 'detached']]);
    db.close();
    const info = await docker.getContainer(name).inspect();
    assert.equal(info.State.Running, true, 'detach leaves the container running');
  });
});
