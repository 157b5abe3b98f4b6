import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { StartupCommands } from '../../src/vscode/startupCommands';
import { api, EXTENSION_ID } from './helpers';

describe('start-up: activate() returns before the database is open', function () {
  this.timeout(30_000);

  it('once started, every contributed command is registered (the stand-ins made way for the real ones)', async () => {
    await api();
    const registered = new Set(await vscode.commands.getCommands(true));
    const json = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { commands: Array<{ command: string }> } };
    const missing = json.contributes.commands.map((c) => c.command).filter((id) => !registered.has(id));
    assert.deepEqual(missing, []);
  });

  it('a command run while Borg starts waits for the start, then runs the real command with its arguments', async () => {
    const id = `borg.test.standIn${Date.now()}`;
    let started!: () => void;
    const ready = new Promise<void>((resolve) => (started = resolve));
    const standIns = new StartupCommands([id], () => ready);
    const pending = vscode.commands.executeCommand<string>(id, 'a', 2);
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50)); // the stand-in is waiting: nothing can have answered yet
    assert.equal(settled, false, 'the command answered before the start finished');
    standIns.dispose();
    const real = vscode.commands.registerCommand(id, (x: string, n: number) => `${x}:${n}`);
    try {
      started();
      assert.equal(await pending, 'a:2');
    } finally {
      real.dispose();
    }
  });

  it('when the start failed, a stand-in answers nothing and does not throw (the reason is shown)', async () => {
    const id = `borg.test.standInFailed${Date.now()}`;
    const failed = Promise.reject(new Error('the database is damaged'));
    failed.catch(() => undefined);
    const standIns = new StartupCommands([id], () => failed);
    try {
      assert.equal(await vscode.commands.executeCommand(id), undefined);
    } finally {
      standIns.dispose();
    }
  });
});
