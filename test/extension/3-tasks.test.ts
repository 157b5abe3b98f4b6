import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DEMO_IMAGE } from '../../src/core/demoImage';
import type { Task, TaskStatus } from '../../src/core/taskStore';
import type { FileChange } from '../../src/vscode/gitDocuments';
import { taskBody } from '../../src/vscode/taskDetail';
import { TaskNotice, TaskNotifications } from '../../src/vscode/taskNotifications';
import { isGroup } from '../../src/vscode/tasksView';
import { api, docker, setConfig, until, usePrefix } from './helpers';

/** A sample repository in a temp dir: one README, a test runner that runs every tests/*.sh, one commit on main. */
function sampleRepo(): string {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-tasks-'));
  git(repo, 'init', '-q', '-b', 'main');
  fs.writeFileSync(path.join(repo, 'README.md'), '# Sample\n\nThe original README.\n');
  fs.writeFileSync(path.join(repo, 'run-tests.sh'), 'for t in tests/*.sh; do [ -e "$t" ] || continue; sh "$t" || exit 1; done\necho "all tests passed"\n');
  git(repo, 'add', '-A');
  git(repo, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
  return repo;
}

function git(cwd: string, ...args: string[]): string {
  // A user who trusts the worktree: with the host user root, agents' files there belong to uid 1000.
  return execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd, encoding: 'utf8' });
}

async function task(id: number): Promise<Task> {
  const { ctx } = await api();
  return ctx.scheduler.tasks.get(id)!;
}

/** Waits until the task's status is one of `statuses`; fails with its last status and error. */
async function settled(id: number, statuses: TaskStatus[], ms = 40_000): Promise<Task> {
  const { ctx } = await api();
  try {
    return await until(
      `task ${id} to be ${statuses.join(' or ')}`,
      () => {
        const t = ctx.scheduler.tasks.get(id);
        return t && statuses.includes(t.status) && t;
      },
      ms,
    );
  } catch (e) {
    const t = ctx.scheduler.tasks.get(id);
    throw new Error(`${(e as Error).message}; it is ${t?.status} (${t?.lastError ?? 'no error'})`);
  }
}

describe('Tasks: the pipeline from the VS Code UI', function () {
  this.timeout(120_000);
  let repo: string;
  const add = async (title: string, description = ''): Promise<Task> => {
    const t = (await vscode.commands.executeCommand('borg.addTask', { title, description, repo })) as Task | undefined;
    assert.ok(t, `borg.addTask added "${title}"`);
    return t;
  };
  const marker = path.join(os.tmpdir(), `borg-pwned-${process.pid}`);
  const quotedTitle = `Say "hi" & it's $(touch ${marker}) \`touch ${marker}-b\`\nsecond line`;
  /** Tasks added together at the start (the demo phases take seconds each, so they run side by side). */
  let failing: Task, doneTask: Task, pair: [Task, Task], quoted: Task;
  /** Every status each task was seen in, and whether the pair ran side by side. */
  const seen = new Map<number, Set<TaskStatus>>();
  let together = false;
  let watching: vscode.Disposable | undefined;
  let cancelled: Task;
  /** Every task-ended notification shown (TaskNotifications.onDidNotify). */
  const notices: TaskNotice[] = [];
  let listening: vscode.Disposable | undefined;

  before(async () => {
    const { ctx } = await api();
    await usePrefix();
    await ctx.pipeline.stopAll(); // agents left by earlier files would take slots
    repo = sampleRepo();
    await setConfig('testCommand', 'sh run-tests.sh');
    await setConfig('maxAttempts', 2);
    await until('the task settings', () => ctx.config.testCommand === 'sh run-tests.sh' && ctx.config.maxAttempts === 2);
    assert.equal(await vscode.commands.executeCommand('borg.buildDemoImage'), true);
    watching = ctx.scheduler.onDidChange(() => {
      for (const t of ctx.scheduler.tasks.list()) seen.set(t.id, (seen.get(t.id) ?? new Set()).add(t.status));
      const active = ctx.scheduler.activeIds;
      together ||= !!pair && active.includes(pair[0].id) && active.includes(pair[1].id);
    });
    listening = ctx.taskNotifications.onDidNotify((n) => notices.push(n));
    failing = await add('[demo:worker-fails] Make the test pass');
    doneTask = await add('Add the done marker', 'The demo personas write spec.md, a test and the fix.');
    pair = [await add('First parallel task'), await add('Second parallel task')];
    quoted = await add(quotedTitle, `<script>alert("x")</script>\n$(touch ${marker}-c)\n'; rm -rf / #`);
  });

  after(async () => {
    const { ctx } = await api();
    watching?.dispose();
    listening?.dispose();
    for (const t of ctx.scheduler.tasks.list()) if (ctx.scheduler.activeIds.includes(t.id)) await ctx.scheduler.cancel(t.id).catch(() => undefined);
    await setConfig('testCommand', undefined);
    await setConfig('maxAttempts', undefined);
    await setConfig('maxParallelAgents', undefined);
    await setConfig('agentImage', undefined);
    await ctx.secrets.setAnthropicKey('');
    fs.rmSync(repo, { recursive: true, force: true });
  });

  it('refuses an empty title and a folder outside git with a clear message, adding nothing', async () => {
    const { ctx } = await api();
    const before = ctx.scheduler.tasks.list().length;
    assert.equal(await vscode.commands.executeCommand('borg.addTask', { title: '   ', repo }), undefined);
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-nogit-'));
    assert.equal(await vscode.commands.executeCommand('borg.addTask', { title: 'Fix it', repo: outside }), undefined);
    await assert.rejects(ctx.scheduler.add({ title: 'Fix it', description: '', repo: outside }), /is not inside a git repository\. Run "git init" there/);
    await assert.rejects(ctx.scheduler.add({ title: ' ', description: '', repo }), /A task needs a title/);
    assert.equal(ctx.scheduler.tasks.list().length, before);
    fs.rmSync(outside, { recursive: true, force: true });
  });

  it('refuses a repository with no commit yet: "Commit at least once first", adding nothing', async () => {
    const { ctx } = await api();
    const before = ctx.scheduler.tasks.list().length;
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-nocommit-'));
    try {
      git(empty, 'init', '-q', '-b', 'main');
      fs.writeFileSync(path.join(empty, 'README.md'), 'not committed\n');
      assert.equal(await vscode.commands.executeCommand('borg.addTask', { title: 'Fix it', repo: empty }), undefined);
      await assert.rejects(ctx.scheduler.add({ title: 'Fix it', description: '', repo: empty }), /^NoCommitError: Commit at least once first: a task branches from HEAD, and .* has no commit yet/);
      assert.equal(ctx.scheduler.tasks.list().length, before);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('runs a task through spec, qa, impl and test to done, with one commit per agent phase on borg/task-<id>', async () => {
    const { ctx } = await api();
    const t = doneTask;
    assert.equal(t.repo, fs.realpathSync(repo));
    assert.equal(t.status, 'backlog');
    doneTask = await settled(t.id, ['done', 'failed', 'blocked']);
    assert.equal(doneTask.status, 'done');
    for (const s of ['spec', 'qa', 'impl', 'test'] as TaskStatus[]) assert.ok(seen.get(t.id)?.has(s), `went through ${s}`);
    assert.equal(doneTask.branch, `borg/task-${t.id}`);
    assert.equal(doneTask.baseBranch, 'main');
    const subjects = git(repo, 'log', '--reverse', '--format=%s', `main..borg/task-${t.id}`).trim().split('\n');
    assert.deepEqual(
      subjects,
      ['spec (manager)', 'qa (qa)', 'impl (worker)'].map((p) => `borg: task ${t.id} ${p}: Add the done marker`),
    );
    assert.deepEqual(
      ctx.scheduler.tasks.runs(t.id).map((r) => `${r.phase}:${r.outcome}`),
      ['spec:ok', 'qa:ok', 'impl:ok', 'test:ok'],
    );
  });

  it('runs two tasks at once, each in its own worktree', async () => {
    const [a, b] = pair;
    pair = [await settled(a.id, ['done', 'failed', 'blocked']), await settled(b.id, ['done', 'failed', 'blocked'])];
    assert.ok(together, 'both tasks had a phase running at the same time');
    assert.deepEqual(
      pair.map((t) => t.status),
      ['done', 'done'],
    );
    assert.notEqual(pair[0].worktree, pair[1].worktree);
    for (const t of pair) {
      assert.equal(fs.readFileSync(path.join(t.worktree!, 'done', `task-${t.id}`), 'utf8').trim(), 'ok');
      assert.equal(fs.existsSync(path.join(t.worktree!, 'done', `task-${t.id === a.id ? b.id : a.id}`)), false, 'no trace of the other task');
    }
  });

  it('passes a title with quotes, $(...) and newlines to the agents as text: nothing runs, the commits name it', async () => {
    quoted = await settled(quoted.id, ['done', 'failed', 'blocked'], 60_000);
    assert.equal(quoted.status, 'done');
    const oneLine = quotedTitle.replace(/\s+/g, ' ');
    assert.equal(quoted.title, oneLine);
    for (const f of [marker, `${marker}-b`, `${marker}-c`]) assert.equal(fs.existsSync(f), false, `${f} was not created`);
    const subjects = git(repo, 'log', '--format=%s', `main..${quoted.branch}`).trim().split('\n');
    assert.equal(subjects.length, 3);
    for (const s of subjects) assert.ok(s.endsWith(`: ${oneLine}`), s);
  });

  it('fails a task whose worker never fixes it after borg.maxAttempts, with the test output as the last error', async () => {
    failing = await settled(failing.id, ['failed', 'done', 'blocked'], 60_000);
    assert.equal(failing.status, 'failed');
    assert.equal(failing.attempt, 2);
    assert.match(failing.lastError ?? '', /borg\.testCommand \(sh run-tests\.sh\) exited with 1 in \S+-test-\d+:\n[\s\S]*done\/task-\d+ is missing/);
    const { ctx } = await api();
    assert.deepEqual(
      ctx.scheduler.tasks.runs(failing.id).map((r) => `${r.phase}${r.attempt}:${r.outcome}`),
      ['spec0:ok', 'qa0:ok', 'impl0:ok', 'test0:failed', 'impl1:ok', 'test1:failed'],
    );
  });

  it('cancel during a phase stops the agent container and keeps the worktree', async () => {
    const { ctx } = await api();
    const t = await add('Cancel me while the manager writes');
    // The demo agent works for 1 s per phase: catch it while its container runs.
    const end = Date.now() + 20_000;
    let agent: string | undefined;
    while (!agent && Date.now() < end) {
      agent = ctx.scheduler.tasks.runs(t.id).find((r) => r.outcome === 'running' && r.agent)?.agent ?? undefined;
      if (!agent) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(agent, 'the spec phase started an agent');
    cancelled = (await vscode.commands.executeCommand('borg.cancelTask', t.id)) as Task;
    assert.equal(cancelled.status, 'cancelled');
    assert.equal((await docker.getContainer(agent).inspect()).State.Running, false);
    assert.equal(ctx.pipeline.agents.get(agent)?.state, 'stopped');
    assert.equal(ctx.scheduler.tasks.runs(t.id).at(-1)?.outcome, 'cancelled');
    assert.ok(cancelled.worktree && fs.existsSync(cancelled.worktree), 'the worktree stays');
    assert.deepEqual(
      ctx.scheduler.activeIds.filter((id) => id === t.id),
      [],
    );
  });

  it('groups the Tasks view by status with counts, and shows #id title, phase and attempt per task', async () => {
    const { ctx } = await api();
    const roots = ctx.tasksView.getChildren();
    const groups = roots.filter(isGroup);
    assert.equal(groups.length, roots.length, 'the root rows are groups');
    const byLabel = new Map(groups.map((g) => [String(ctx.tasksView.getTreeItem(g).label), g]));
    assert.deepEqual(
      [...byLabel.keys()].filter((l) => ['Failed', 'Done', 'Cancelled'].includes(l)),
      ['Failed', 'Done', 'Cancelled'],
    );
    const done = byLabel.get('Done')!;
    assert.equal(ctx.tasksView.getTreeItem(done).description, String(ctx.scheduler.tasks.list().filter((t) => t.status === 'done').length));
    const item = ctx.tasksView.getTreeItem(done.tasks.find((t) => t.id === doneTask.id)!);
    assert.equal(item.label, `#${doneTask.id} Add the done marker`);
    assert.equal(item.description, 'done', 'a done task reads "done", not its last phase and attempt');
    assert.equal(item.accessibilityInformation?.label, `Task ${doneTask.id}, Add the done marker, done`);
    assert.equal(item.contextValue, 'borg.task;show;diff;openWorktree;merge;delete;', 'a done task offers merge, never cancel or retry');
    assert.equal((item.iconPath as vscode.ThemeIcon).id, 'pass');
    assert.equal(item.command?.command, 'borg.showSelectedTask');
    const failedTask = byLabel.get('Failed')!.tasks[0];
    const failed = ctx.tasksView.getTreeItem(failedTask);
    assert.match(String(failed.label), /^#\d+ \[demo:worker-fails\] Make the test pass$/);
    assert.equal(failed.description, 'impl · attempt 2/2');
    assert.equal(failed.accessibilityInformation?.label, `Task ${failedTask.id}, [demo:worker-fails] Make the test pass, failed, impl, attempt 2 of 2`);
    assert.equal(failed.contextValue, 'borg.task;show;diff;openWorktree;retry;delete;', 'a failed task offers retry, not cancel (it runs nothing)');
    assert.equal(failed.tooltip, undefined, 'the tooltip is built on hover (resolveTreeItem)');
    const resolved = ctx.tasksView.resolveTreeItem(failed, failedTask);
    const tip = (resolved.tooltip as vscode.MarkdownString).value.replace(/&nbsp;/g, ' ').replace(/\\/g, '');
    assert.match(tip, /Model spend: \$0\.00 of \$5\.00 \(borg\.maxCostUsdPerTask\)/);
    assert.match(tip, /Last error[\s\S]*done\/task-\d+ is missing/);
    const gone = ctx.tasksView.getTreeItem(byLabel.get('Cancelled')!.tasks.find((t) => t.id === cancelled.id)!);
    assert.match(String(gone.contextValue), /^borg\.task;show;.*retry;delete;$/);
    assert.doesNotMatch(String(gone.contextValue), /;cancel;/);
    assert.equal(gone.description, 'spec · attempt 1/2');
  });

  it('shows a task in one reused detail panel, its text escaped under a strict CSP', async () => {
    const panel = (await vscode.commands.executeCommand('borg.showTask', quoted.id)) as vscode.WebviewPanel;
    assert.ok(panel, 'borg.showTask returned the panel');
    assert.equal(panel.title, `#${quoted.id} ${quoted.title}`);
    const html = panel.webview.html;
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src [^;]+; img-src [^;]+; font-src [^;]+; script-src 'nonce-[A-Za-z0-9+/=]+';">/);
    assert.equal(html.match(/<script/g)?.length, 1, 'only the nonce script');
    assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'), 'the description is escaped');
    assert.ok(html.includes(`Say &quot;hi&quot; &amp; it&#39;s $(touch`), 'the title is escaped');
    assert.match(html, /<td>spec<\/td><td class="num">1<\/td><td><button class="link" data-command="showLogs" data-agent="[^"]+-manager-\d+"/);
    assert.equal(await vscode.commands.executeCommand('borg.showTask', quoted.id), panel, 'the same panel again');
    panel.dispose();
  });

  it('shows the diff of a task branch against its merge base in the changes editor', async () => {
    const t = await task(doneTask.id);
    fs.writeFileSync(path.join(t.worktree!, 'README.md'), '# Sample\n\nChanged on the task branch.\n');
    git(t.worktree!, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-am', 'change the README');
    const changes = (await vscode.commands.executeCommand('borg.showDiff', t.id)) as FileChange[];
    assert.deepEqual(changes.map((c) => c.file).sort(), ['README.md', `done/task-${t.id}`, 'spec.md', `tests/task-${t.id}.sh`]);
    const readme = changes.find((c) => c.file === 'README.md')!;
    assert.equal(readme.left?.scheme, 'borg-git');
    assert.equal((await vscode.workspace.openTextDocument(readme.left!)).getText(), '# Sample\n\nThe original README.\n');
    assert.equal(readme.right?.fsPath, path.join(t.worktree!, 'README.md'));
    assert.equal(changes.find((c) => c.file === 'spec.md')?.left, undefined, 'spec.md is new');
    const title = `Task #${t.id}: main...borg/task-${t.id}`;
    await until('the changes editor', () => vscode.window.tabGroups.activeTabGroup.activeTab?.label === `${title} (4 files)`, 10_000).catch((e) => {
      const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
      throw new Error(`${(e as Error).message}: the active tab is "${tab?.label}" (${tab?.input?.constructor.name})`);
    });
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('shows a link the agent wrote in the worktree as a read-only link document, never what it points at', async () => {
    const t = await task(doneTask.id);
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'borg-home-'));
    const key = path.join(home, 'id_ed25519');
    const SECRET = 'PRIVATE KEY of the user\n';
    fs.writeFileSync(key, SECRET);
    fs.writeFileSync(path.join(home, 'id.md'), SECRET);
    try {
      // key.md is a committed link; notes/id.md is a committed file whose folder the agent then swaps for a link.
      fs.symlinkSync(key, path.join(t.worktree!, 'key.md'));
      fs.mkdirSync(path.join(t.worktree!, 'notes'));
      fs.writeFileSync(path.join(t.worktree!, 'notes', 'id.md'), 'harmless\n');
      git(t.worktree!, 'add', 'key.md', 'notes/id.md');
      git(t.worktree!, '-c', 'user.name=Test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'plant links');
      fs.rmSync(path.join(t.worktree!, 'notes'), { recursive: true });
      fs.symlinkSync(home, path.join(t.worktree!, 'notes'));
      const changes = (await vscode.commands.executeCommand('borg.showDiff', t.id)) as FileChange[];
      const link = changes.find((c) => c.file === 'key.md')!;
      const under = changes.find((c) => c.file === 'notes/id.md')!;
      for (const c of [link, under]) {
        assert.equal(c.right?.scheme, 'borg-worktree', `${c.file} is not opened as a file`);
        assert.equal(c.resource.scheme, 'borg-worktree', `${c.file} is not named as a file`);
        assert.ok(!(await vscode.workspace.openTextDocument(c.right!)).getText().includes(SECRET), `${c.file} does not show the secret`);
      }
      assert.equal((await vscode.workspace.openTextDocument(link.right!)).getText(), `symbolic link → ${key}\n`);
      assert.match((await vscode.workspace.openTextDocument(under.right!)).getText(), new RegExp(`^symbolic link → ${home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n\\(the folder notes is the link`));
      assert.equal(changes.find((c) => c.file === 'README.md')?.right?.scheme, 'file', 'a regular file still opens as itself');
      await until('the changes editor', () => vscode.window.tabGroups.activeTabGroup.activeTab?.label === `Task #${t.id}: main...borg/task-${t.id} (${changes.length} files)`, 10_000);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });

  it('merges a done task into main, and refuses one that conflicts, naming the files', async () => {
    const { ctx } = await api();
    const [a, b] = pair;
    assert.equal(await vscode.commands.executeCommand('borg.mergeTask', a.id, { confirmed: true }), true);
    assert.equal(git(repo, 'show', `main:done/task-${a.id}`).trim(), 'ok');
    assert.equal(git(repo, 'log', '-1', '--format=%s', 'main').trim(), `Merge task ${a.id}: First parallel task`);
    const merged = await task(a.id);
    assert.equal(merged.status, 'merged');
    const mergedHead = git(repo, 'rev-parse', 'main');
    assert.equal(await vscode.commands.executeCommand('borg.mergeTask', a.id, { confirmed: true }), false, 'merging again is refused');
    await assert.rejects(ctx.scheduler.merge(a.id), /Task \d+ is already merged into main; there is nothing left to merge\./);
    assert.equal(git(repo, 'rev-parse', 'main'), mergedHead);
    ctx.tasksView.refresh(true);
    const group = ctx.tasksView
      .getChildren()
      .filter(isGroup)
      .find((g) => g.group === 'merged');
    assert.ok(group, 'the tree has a Merged group');
    assert.equal(ctx.tasksView.getTreeItem(group).label, 'Merged');
    const row = ctx.tasksView.getTreeItem(group.tasks.find((t) => t.id === a.id)!);
    assert.equal(row.description, 'merged into main');
    assert.equal(row.contextValue, 'borg.task;show;diff;openWorktree;delete;', 'no Merge, Retry or Cancel on a merged task');
    assert.equal(notices.filter((n) => n.taskId === a.id && n.status !== 'done').length, 0, 'a merge is not announced');
    const head = git(repo, 'rev-parse', 'main');
    assert.equal(await vscode.commands.executeCommand('borg.mergeTask', b.id, { confirmed: true }), false);
    await assert.rejects(ctx.scheduler.merge(b.id), /borg\/task-\d+ does not merge cleanly into main: conflicts in spec\.md\. Nothing was changed/);
    assert.equal(git(repo, 'rev-parse', 'main'), head, 'main did not move');
    assert.equal(git(repo, 'status', '--porcelain'), '', 'no merge left half-done');
  });

  it('Set API Key stores the key and puts blocked tasks back in the queue', async () => {
    const { ctx } = await api();
    await setConfig('agentImage', 'borg-missing-image:never');
    await until('the image setting', () => ctx.config.image === 'borg-missing-image:never');
    const t = await add('Blocked until the key is set');
    const blocked = await settled(t.id, ['blocked', 'done', 'failed']);
    assert.equal(blocked.status, 'blocked');
    assert.match(blocked.lastError ?? '', /borg-missing-image:never" is not present in Docker/);
    assert.match(String(ctx.tasksView.getTreeItem(blocked).description), /^blocked · other · spec · attempt 1\/2$/, 'the row says why it is blocked');
    assert.equal(ctx.tasksView.getTreeItem(blocked).contextValue, 'borg.task;show;diff;openWorktree;cancel;retry;showOutput;delete;', 'a missing image offers Retry and Show Output, not Set API Key');
    const panel = (await vscode.commands.executeCommand('borg.showTask', t.id)) as vscode.WebviewPanel;
    assert.match(panel.webview.html, /data-command="showOutput">Show Output</);
    assert.doesNotMatch(panel.webview.html, /data-command="setApiKey"/);
    panel.dispose();
    await vscode.commands.executeCommand('borg.showOutput');
    const notice = await until('the block to be announced', () => notices.find((n) => n.taskId === t.id));
    assert.deepEqual(notice.buttons, ['Retry', 'Show Output', 'Details']);
    assert.equal(notice.kind, 'warning');
    assert.match(notice.message, /^Borg: task #\d+ Blocked until the key is set is blocked by an error outside the agent/);
    await setConfig('agentImage', undefined);
    await until('the image setting', () => ctx.config.image === DEMO_IMAGE);
    assert.equal((await task(t.id)).status, 'blocked', 'a settings change does not unblock');
    assert.equal(await vscode.commands.executeCommand('borg.setApiKey', 'sk-ant-test-0000'), 1);
    assert.equal(await ctx.secrets.hasAnthropicKey(), true);
    assert.equal(await ctx.secrets.anthropicKey(), 'sk-ant-test-0000');
    await until('the task to run again', () => ctx.scheduler.activeIds.includes(t.id), 5_000);
    assert.equal((await task(t.id)).status, 'spec'); // it finishes in the background
  });

  it('a budget block offers Raise Budget, which writes the cap the refusal named', async () => {
    const { ctx } = await api();
    const t = await task(failing.id);
    const day = "today's budget is spent: $50.0100 of $50 (borg.maxCostUsdPerDay). Raise the cap and Retry, or wait until midnight.";
    ctx.scheduler.tasks.update(t.id, { status: 'blocked', blockedReason: 'budget', lastError: day });
    try {
      const blocked = await task(t.id);
      const item = ctx.tasksView.getTreeItem(blocked);
      assert.equal(item.contextValue, 'borg.task;show;diff;openWorktree;cancel;retry;raiseBudget;delete;');
      assert.equal(item.accessibilityInformation?.label, `Task ${t.id}, [demo:worker-fails] Make the test pass, blocked (budget), impl, attempt 2 of 2`);
      const panel = (await vscode.commands.executeCommand('borg.showTask', t.id)) as vscode.WebviewPanel;
      assert.match(panel.webview.html, /data-command="raiseBudget">Raise Budget…</);
      assert.doesNotMatch(panel.webview.html, /data-command="(setApiKey|showOutput)"/);
      panel.dispose();
      assert.deepEqual(await vscode.commands.executeCommand('borg.raiseBudget', t.id, { usd: 77 }), { key: 'borg.maxCostUsdPerDay', usd: 77 });
      await until('the new cap', () => ctx.config.gateway.maxCostUsdPerDay === 77);
      ctx.scheduler.tasks.update(t.id, { blockedReason: 'auth' });
      assert.equal(await vscode.commands.executeCommand('borg.raiseBudget', t.id, { usd: 99 }), undefined, 'refused on an auth block');
      assert.equal(ctx.config.gateway.maxCostUsdPerDay, 77);
    } finally {
      await setConfig('maxCostUsdPerDay', undefined);
      await vscode.workspace.getConfiguration('borg').update('maxCostUsdPerDay', undefined, vscode.ConfigurationTarget.Global);
      ctx.scheduler.tasks.update(t.id, { status: 'failed', blockedReason: null, lastError: t.lastError });
    }
  });

  it('announces tasks that end done or failed, with the buttons of their status; a cancel is not announced', async () => {
    const done = notices.find((n) => n.taskId === doneTask.id);
    assert.ok(done, 'the done task was announced');
    assert.deepEqual(done.buttons, ['Show Diff', 'Details']);
    assert.equal(done.kind, 'info');
    const failed = notices.find((n) => n.taskId === failing.id && n.status === 'failed');
    assert.ok(failed, 'the failed task was announced');
    assert.deepEqual(failed.buttons, ['Retry', 'Details']);
    assert.equal(notices.filter((n) => n.taskId === cancelled.id).length, 0, "the user's cancel is not announced");
    assert.ok(!notices.some((n) => /Say "hi"/.test(n.message) && /\]\(/.test(n.message)), 'no title forms a link');
  });

  it('a window that opens after tasks ended announces none of them, but badges them', async () => {
    const { ctx } = await api();
    const tree: { badge?: vscode.ViewBadge } = {};
    const late = new TaskNotifications(ctx.scheduler, tree, () => ({ notifyTaskEnded: true, badge: true }));
    const heard: TaskNotice[] = [];
    late.onDidNotify((n) => heard.push(n));
    try {
      ctx.scheduler.pause(); // two scheduler changes, no task moves
      ctx.scheduler.resume();
      assert.deepEqual(heard, []);
      assert.equal(tree.badge?.value, ctx.scheduler.tasks.list().filter((t) => ['blocked', 'failed', 'done'].includes(t.status)).length);
    } finally {
      late.dispose();
    }
  });

  it('badges the Tasks view with the tasks needing attention, unless borg.badge is off', async () => {
    const { ctx } = await api();
    const list = ctx.scheduler.tasks.list();
    const n = list.filter((t) => ['blocked', 'failed', 'done'].includes(t.status)).length;
    assert.ok(n > 0);
    const badge = ctx.tasksView.treeView.badge;
    assert.equal(badge?.value, n);
    assert.match(badge?.tooltip ?? '', new RegExp(`^${n} tasks? needs? attention: `));
    await setConfig('badge', false);
    try {
      await until('the badge to go', () => ctx.tasksView.treeView.badge === undefined, 5_000);
    } finally {
      await setConfig('badge', undefined);
    }
    await until('the badge to come back', () => ctx.tasksView.treeView.badge?.value === n, 5_000);
  });

  it('the detail panel reads "tests skipped" for a test phase without borg.testCommand, and "done" as the phase', async () => {
    const t = await task(doneTask.id);
    const now = Date.now();
    const skipped = {
      id: 1,
      taskId: t.id,
      phase: 'test' as const,
      attempt: 0,
      agent: null,
      outcome: 'ok',
      exitCode: null,
      durationMs: 0,
      sessionId: null,
      costUsd: null,
      inputTokens: null,
      outputTokens: null,
      output: 'no borg.testCommand set: test phase skipped',
      streamFile: null,
      error: null,
      commitSha: null,
      startedAt: now,
      finishedAt: now,
    };
    const html = taskBody({ ...t, status: 'done' }, [skipped], false);
    assert.match(html, /<dt>Phase<\/dt><dd>done<\/dd>/);
    assert.match(html, /tests skipped \(no borg\.testCommand\)/);
    assert.match(html, /class="outcome outcome-skipped"[^>]*>skipped</);
    assert.doesNotMatch(html, /0\.0 s/);
    const running = taskBody({ ...t, status: 'impl', lastError: 'the previous run failed' }, [{ ...skipped, phase: 'impl', outcome: 'running', agent: null }], true);
    assert.doesNotMatch(running, /Last error/, "a new run hides the last run's error");
    assert.match(running, /starting…/);
  });

  it('retry runs a cancelled task again from its phase to done', async () => {
    const t = (await vscode.commands.executeCommand('borg.retryTask', cancelled.id)) as Task;
    assert.equal(t.status, 'retry');
    assert.equal(t.phase, 'spec');
    assert.equal((await settled(t.id, ['done', 'failed', 'blocked'])).status, 'done');
  });

  it('delete removes the task, its worktree and, when asked, its branch, and closes its panel', async () => {
    const { ctx } = await api();
    const t = await task(cancelled.id);
    const panel = (await vscode.commands.executeCommand('borg.showTask', t.id)) as vscode.WebviewPanel;
    let closed = false;
    panel.onDidDispose(() => (closed = true));
    assert.equal(await vscode.commands.executeCommand('borg.deleteTask', t.id, { deleteBranch: true }), true);
    assert.equal(ctx.scheduler.tasks.get(t.id), undefined);
    assert.equal(fs.existsSync(t.worktree!), false);
    assert.equal(git(repo, 'branch', '--list', t.branch!).trim(), '');
    await until('the panel to close', () => closed, 5_000);
    const kept = pair[1];
    assert.equal(await vscode.commands.executeCommand('borg.deleteTask', kept.id, { deleteBranch: false }), true);
    assert.equal(git(repo, 'branch', '--list', kept.branch!).trim(), kept.branch, 'the branch stays');
  });

  it('counts tasks waiting for a slot as queued in the status bar', async () => {
    const { ctx } = await api();
    await until('no task running', () => ctx.scheduler.activeIds.length === 0, 30_000);
    await setConfig('maxParallelAgents', 1);
    await until('the setting', () => ctx.config.maxParallelAgents === 1);
    const first = await add('Takes the only slot');
    // The Pipeline applies a new limit at its next launch; the scheduler reads it from there.
    await until('the first agent to start', () => ctx.pipeline.maxParallel === 1 && ctx.scheduler.tasks.runs(first.id).some((r) => r.agent));
    const second = await add('Waits for the slot');
    assert.equal(ctx.scheduler.queuedCount, 1);
    await until('the status bar to count it', () => ctx.statusBar.text.endsWith(' · 1 queued'), 5_000);
    for (const t of [second, first]) assert.equal(((await vscode.commands.executeCommand('borg.cancelTask', t.id)) as Task).status, 'cancelled');
    await until('the count to clear', () => !/queued/.test(ctx.statusBar.text), 10_000);
  });

  it("shows the model's spend: today's in the status bar, the task's in its tooltip and panel; a replay says so", async () => {
    const { ctx } = await api();
    const gateway = ctx.runtime.gateway;
    assert.ok(gateway, 'this window holds the database, so it runs the gateway');
    const t = await task(doneTask.id);
    const at = Date.now();
    // One metered request of the task, as the gateway's ledger records it (model_usage, schema v4).
    ctx.store.execute('INSERT INTO model_usage (at, agent, run_started_at, task_id, phase, model, status, input_tokens, output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      at,
      'borg-ui-test',
      at,
      t.id,
      'impl',
      'claude-sonnet-4-5',
      200,
      1000,
      200,
      0.4213,
    ]);
    try {
      ctx.statusBar.refresh();
      assert.equal(gateway.spentToday(), 0.4213);
      assert.match(ctx.statusBar.text, /^\$\(server-process\) \d+\/\d+ agents · \$0\.42 today$/);
      const tip = String(ctx.statusBar.item.tooltip);
      assert.match(tip, /Model spend today: \$0\.42 of \$50\.00 \(borg\.maxCostUsdPerDay\)\. Model: https:\/\/api\.anthropic\.com\./);
      const item = ctx.tasksView.resolveTreeItem(ctx.tasksView.getTreeItem(t), t);
      assert.match((item.tooltip as vscode.MarkdownString).value.replace(/&nbsp;/g, ' '), /Model spend: \$0\.4213 of \$5\.00/);
      const panel = (await vscode.commands.executeCommand('borg.showTask', t.id)) as vscode.WebviewPanel;
      assert.match(panel.webview.html, /<dt>Spend<\/dt><dd><span class="spend">\$0\.4213 of \$5\.00<\/span>/);
      panel.dispose();

      await setConfig('modelUpstream', 'replay:/nonexistent/borg-demo.jsonl');
      await until('the replay in the status bar', () => ctx.statusBar.text.endsWith(' · $0.42 today · replay'), 5_000);
    } finally {
      await setConfig('modelUpstream', undefined);
      ctx.store.execute('DELETE FROM model_usage WHERE agent = ?', ['borg-ui-test']);
      ctx.statusBar.refresh();
    }
    await until('the spend and replay to clear', () => !/today|replay/.test(ctx.statusBar.text), 5_000);
  });
});
