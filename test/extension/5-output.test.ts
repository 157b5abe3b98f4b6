import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isFilesNode } from '../../src/vscode/containerFilesNodes';
import { api, until, usePrefix } from './helpers';

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
    // The Agents view: the container row has a Files child: its working dir (/home/agent for the demo image) and /tmp.
    const row = await until('the row', () => ctx.agentsView.row(name));
    assert.equal(ctx.agentsView.getTreeItem(row).collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
    const [files] = await ctx.agentsView.getChildren(row);
    assert.ok(isFilesNode(files));
    assert.equal(ctx.agentsView.getTreeItem(files).label, 'Files');
    const places = await ctx.agentsView.getChildren(files);
    assert.deepEqual(
      places.map((n) => ctx.agentsView.getTreeItem(n).label),
      ['/home/agent', '/tmp'],
    );
    const tmp = await ctx.agentsView.getChildren(places[1]);
    const out = tmp.find((n) => ctx.agentsView.getTreeItem(n).label === 'out');
    assert.ok(out);
    assert.deepEqual(
      (await ctx.agentsView.getChildren(out)).map((n) => [ctx.agentsView.getTreeItem(n).label, ctx.agentsView.getTreeItem(n).description]),
      [
        ['link', '→ /etc/shadow'],
        ['report.txt', '13 B'],
      ],
    );
  });

  it('Compare with Worktree diffs a task agent\u2019s file against the same path in the task\u2019s worktree', async () => {
    const { ctx } = await api();
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-compare-'));
    const git = (...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd: repo, encoding: 'utf8' });
    git('init', '-q', '-b', 'main');
    fs.writeFileSync(path.join(repo, 'README.md'), '# Sample\n');
    git('add', '-A');
    git('-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
    const t = await ctx.scheduler.add({ title: 'Compare me', description: '', repo });
    const done = await until(
      'the task to settle',
      () => {
        const now = ctx.scheduler.tasks.get(t.id);
        return now && ['done', 'failed', 'blocked'].includes(now.status) && !ctx.scheduler.activeIds.includes(t.id) && now;
      },
      90_000,
    );
    assert.ok(done.worktree);
    await ctx.refresh();
    const manager = ctx.pipeline.containers.find((c) => c.labels['borg.task'] === String(t.id) && c.labels['borg.phase'] === 'spec');
    assert.ok(manager, 'the spec phase container is kept');
    const row = await until("the spec agent's row", () => ctx.agentsView.row(manager.name));
    const [files] = await ctx.agentsView.getChildren(row);
    assert.ok(isFilesNode(files));
    const [mount] = await ctx.agentsView.getChildren(files);
    assert.ok(isFilesNode(mount) && mount.path === '/workspace/repo', 'a task agent\u2019s Files start at the worktree mount');
    const under = await ctx.agentsView.getChildren(mount);
    const spec = under.find((n) => isFilesNode(n) && n.path === '/workspace/repo/spec.md');
    assert.ok(spec && isFilesNode(spec), 'the working dir /workspace/repo lists spec.md');
    assert.equal(ctx.agentsView.getTreeItem(spec).contextValue, 'borg.containerFile;task');
    await vscode.commands.executeCommand('borg.compareWithWorktree', spec);
    const input = await until('the diff editor', () => {
      const i = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
      return i instanceof vscode.TabInputTextDiff && i;
    });
    assert.equal(input.original.toString(), vscode.Uri.from({ scheme: 'borg-container', authority: manager.name, path: '/workspace/repo/spec.md' }).toString());
    assert.equal(input.modified.scheme, 'borg-worktree', 'the worktree side is the read-only document, never a file: URI a running agent could swap for a link');
    assert.equal(new URLSearchParams(input.modified.query).get('worktree'), done.worktree);
    const right = await vscode.workspace.openTextDocument(input.modified);
    assert.equal(right.getText(), fs.readFileSync(path.join(done.worktree, 'spec.md'), 'utf8'), 'it shows the worktree file');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });
});
