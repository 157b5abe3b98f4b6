import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import initSqlJs from 'sql.js';
import * as vscode from 'vscode';
import { api, docker, EXTENSION_ID, prefix, removeSuiteContainers } from './helpers';

// Runs last (files run in name order): deactivate ends the extension for the rest of the host's life.
describe('Shutdown', function () {
  this.timeout(120_000);

  after(removeSuiteContainers);

  it('deactivate resolves after joining the agent and leaves the database on disk with its row', async () => {
    const { ctx } = await api();
    const { name } = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 30 } });
    assert.ok(name.startsWith(`${prefix}-worker-`));
    const dbFile = ctx.store.file;
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built bundle, loaded at run time to call its own deactivate()
    const main = require(path.join(ext.extensionPath, 'dist', 'extension.js')) as { deactivate(): Promise<void> | undefined };
    const done = main.deactivate();
    assert.ok(done, 'deactivate returns a promise');
    await done;
    assert.equal(ctx.pipeline.isStopped, true);
    assert.equal(ctx.pipeline.agents.get(name)?.state, 'detached');
    assert.ok(fs.existsSync(dbFile), `${dbFile} exists`);
    assert.equal(fs.existsSync(`${dbFile}.lock`), false, 'the database lock is released at the end of the shutdown');
    const SQL = await initSqlJs();
    const db = new SQL.Database(fs.readFileSync(dbFile));
    const rows = db.exec('SELECT name, persona, state FROM containers WHERE name = ?', [name]);
    assert.deepEqual(rows[0]?.values, [[name, 'worker', 'detached']]);
    db.close();
    const info = await docker.getContainer(name).inspect();
    assert.equal(info.State.Running, true, 'detach leaves the container running');
  });
});
