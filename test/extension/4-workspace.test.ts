import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, EXTENSION_ID } from './helpers';

/** Runs the bundled CLI of this install on the window's folder; resolves with its exit code and output. */
function borg(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
  const folder = vscode.workspace.workspaceFolders![0].uri.fsPath;
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(ext.extensionPath, 'dist', 'cli.js'), ...args, '--workspace', folder], { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } }, (e, stdout, stderr) =>
      resolve({ code: e ? Number((e as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('One home per workspace, one writer per database', function () {
  this.timeout(60_000);

  it("keeps the database in the folder's workspace home, shared with the CLI", async () => {
    const { ctx } = await api();
    const home = process.env.BORG_HOME;
    assert.ok(home, 'the host tests set BORG_HOME');
    assert.equal(ctx.store.file, path.join(home, 'workspaces', ctx.pipeline.workspaceId, 'borg.sqlite'));
    assert.equal(ctx.pipeline.stateDirs.root, path.join(home, 'workspaces', ctx.pipeline.workspaceId, 'agents'));
  });

  it('the window holds the lock: `borg run` on the same folder is refused and names the window; `borg tasks ls` still reads', async () => {
    const { ctx } = await api();
    const lock = fs.readFileSync(`${ctx.store.file}.lock`, 'utf8');
    assert.match(lock, /VS Code window/);
    const run = await borg(['run', '--until-idle']);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /VS Code window/);
    await ctx.store.flush(); // the window writes within 0.5 s anyway; the CLI reads the file
    const ls = await borg(['tasks', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    const ids = (JSON.parse(ls.stdout) as { tasks: Array<{ id: number }> }).tasks.map((t) => t.id).sort();
    assert.deepEqual(
      ids,
      ctx.scheduler.tasks
        .list()
        .map((t) => t.id)
        .sort(),
      'the CLI sees the same tasks',
    );
  });
});
