import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { AgentsNode } from '../../src/vscode/agentsView';
import { isFilesNode } from '../../src/vscode/containerFilesNodes';
import { api, usePrefix } from './helpers';

/** The next change of the document at `uri` whose text passes `want` (an event, never a timer). */
function documentChange(uri: vscode.Uri, want: (text: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const sub = vscode.workspace.onDidChangeTextDocument((e) => {
      if (e.document.uri.toString() !== uri.toString() || !want(e.document.getText())) return;
      sub.dispose();
      resolve(e.document.getText());
    });
  });
}

/** A container from the demo image running `script` with busybox sh (no stdin, no gateway), followed to its end. */
async function scripted(script: string): Promise<string> {
  const { ctx } = await api();
  const r = await ctx.pipeline.launch('worker', { stdin: false, gateway: false, entrypoint: ['/bin/sh', '-c'], cmd: [script] });
  await ctx.pipeline.agents.get(r.name)!.done;
  await ctx.refresh();
  return r.name;
}

describe('Readable output and a crashed agent\u2019s files', function () {
  this.timeout(120_000);

  before(usePrefix);

  it('Show Logs of a running agent grows while it runs, with timestamps, as text; the raw NDJSON is one toggle away', async () => {
    const { ctx } = await api();
    const r = await ctx.pipeline.launch('worker', { input: { sleepSeconds: 4 } });
    assert.equal(ctx.pipeline.agents.get(r.name)?.state, 'running');
    const uri = vscode.Uri.from({ scheme: 'borg-logs', path: `/${r.name}.log` });
    const finished = documentChange(uri, (t) => /✔ done/.test(t));
    const editor = (await vscode.commands.executeCommand('borg.showLogs', r.name)) as vscode.TextEditor | undefined;
    assert.ok(editor);
    assert.doesNotMatch(editor.document.getText(), /✔ done/, 'opened while the agent runs');
    const text = await finished;
    assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} ● session started$/m);
    assert.match(text, /^\d\d:\d\d:\d\d\.\d{3} working 4\/4$/m);
    assert.doesNotMatch(text, /"type":/, 'rendered, not NDJSON');
    const raw = (await vscode.commands.executeCommand('borg.toggleRawLogs')) as vscode.TextEditor | undefined;
    assert.ok(raw);
    assert.equal(raw.document.uri.path, `/${r.name} (raw).log`);
    assert.match(raw.document.getText(), /^\d\d:\d\d:\d\d\.\d{3} \{"type":"assistant"/m);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('Show Logs shows an agent\u2019s escape sequences and control characters as nothing (rendered) or as \\xNN (raw)', async () => {
    const name = await scripted(`printf 'before\\033]0;pwned\\007\\033[2Jafter\\001\\n'`);
    const editor = (await vscode.commands.executeCommand('borg.showLogs', name)) as vscode.TextEditor | undefined;
    assert.ok(editor);
    assert.match(editor.document.getText(), / beforeafter$/m);
    const raw = (await vscode.commands.executeCommand('borg.toggleRawLogs')) as vscode.TextEditor | undefined;
    assert.ok(raw);
    assert.match(raw.document.getText(), / before\\x1b\]0;pwned\\x07\\x1b\[2Jafter\\x01$/m);

    for (const d of [editor.document, raw.document]) assert.doesNotMatch(d.getText(), /[\x00-\x08\x0b-\x1f\x7f]/);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('opens a file of an exited agent read-only through borg-container:, and lists it under Files', async () => {
    const { ctx } = await api();
    const name = await scripted('mkdir -p /tmp/out && printf "crash report\\n" > /tmp/out/report.txt && ln -s /etc/shadow /tmp/out/link && exit 3');
    assert.equal((await ctx.engine.inspect(name))?.exitCode, 3);
    const uri = vscode.Uri.from({ scheme: 'borg-container', authority: name, path: '/tmp/out/report.txt' });
    assert.equal(Buffer.from(await vscode.workspace.fs.readFile(uri)).toString(), 'crash report\n');
    const doc = await vscode.workspace.openTextDocument(uri);
    assert.equal(doc.getText(), 'crash report\n');
    await assert.rejects(Promise.resolve(vscode.workspace.fs.writeFile(uri, Buffer.from('x'))), (e: Error) => e instanceof vscode.FileSystemError);
    const link = vscode.Uri.from({ scheme: 'borg-container', authority: name, path: '/tmp/out/link' });
    assert.equal(Buffer.from(await vscode.workspace.fs.readFile(link)).toString(), 'symbolic link to /etc/shadow\n');
    const entries = await vscode.workspace.fs.readDirectory(uri.with({ path: '/tmp/out' }));
    assert.deepEqual(entries, [
      ['link', vscode.FileType.SymbolicLink | vscode.FileType.File],
      ['report.txt', vscode.FileType.File],
    ]);
    // The Agents view: the container row has a Files child, listing its working dir (/home/agent for the demo image).
    const row = ctx.agentsView.getChildren().find((c) => 'name' in c && c.name === name);
    assert.ok(row);
    assert.equal(ctx.agentsView.getTreeItem(row).collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    const [files] = (await ctx.agentsView.getChildren(row)) as AgentsNode[];
    assert.ok(isFilesNode(files));
    assert.equal(ctx.agentsView.getTreeItem(files).label, 'Files');
    const under = (await ctx.agentsView.getChildren(files)) as AgentsNode[];
    const labels = under.map((n) => ctx.agentsView.getTreeItem(n).label);
    assert.deepEqual(labels.slice(0, 2), ['/home/agent', 'state']);
  });
});
