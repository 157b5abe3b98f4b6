import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { BorgError } from '../core/errors';
import { Git } from '../core/git';
import { budgetSettingOf, checkTaskVerb, fitsTask, TaskVerb } from '../core/taskLife';
import { NoCommitError, requireCommit } from '../core/taskCheckout';
import { formatUsd } from '../core/costText';
import { MAX_DESCRIPTION, Task, validateTaskText } from '../core/taskStore';
import { showError } from './commands';
import type { BorgContext } from './ctx';
import { branchChanges, FileChange, GitDocuments, GIT_SCHEME } from './gitDocuments';
import { TaskDetails } from './taskDetail';
import { rowWords, SHOW_SELECTED_TASK } from './taskItems';
import { isGroup } from './tasksView';
import { whenTrusted } from './trust';
import { WorktreeDocuments, WORKTREE_SCHEME } from './worktreeDocuments';

/** Context key: URIs of the open task drafts; the editor title shows "Add Task" on them. */
const DRAFTS_KEY = 'borg.taskDrafts';

/** What `borg.addTask` takes from a program (tests, other extensions): no UI is shown. */
export interface TaskInput {
  title: string;
  description?: string;
  /** A folder in a git repository; default: the first workspace folder. */
  repo?: string;
}

/** Registers the task commands, the detail panels and the `borg-git:` / `borg-worktree:` documents the diffs read. */
export function registerTaskCommands(ctx: BorgContext): vscode.Disposable[] {
  const git = new Git();
  const details = new TaskDetails(ctx.scheduler, ctx.extension.extensionUri, {
    gateway: ctx.runtime.gateway,
    agent: (name) => ctx.pipeline.agents.get(name),
    taskCapUsd: () => ctx.config.gateway.maxCostUsdPerTask,
  });
  const drafts = new TaskDrafts();
  return [
    details,
    drafts,
    vscode.commands.registerCommand(
      'borg.addTask',
      whenTrusted('Add Task', (arg?: unknown) => addTask(ctx, drafts, git, arg)),
    ),
    vscode.commands.registerCommand(
      'borg.submitTaskDraft',
      whenTrusted('Add Task', (arg?: unknown) => submitDraft(ctx, drafts, arg)),
    ),
    vscode.commands.registerCommand('borg.refreshTasks', () => refreshTasks(ctx)),
    vscode.commands.registerCommand('borg.showTask', (arg?: unknown) => showTask(ctx, details, arg)),
    vscode.commands.registerCommand(SHOW_SELECTED_TASK, () => showSelectedTask(ctx, details)),
    vscode.commands.registerCommand('borg.openWorktree', (arg?: unknown) => openWorktree(ctx, arg)),
    vscode.commands.registerCommand('borg.showDiff', (arg?: unknown) => showDiff(ctx, git, arg)),
    vscode.commands.registerCommand(
      'borg.mergeTask',
      whenTrusted('Merge Task', (arg?: unknown, opts?: { confirmed?: boolean }) => mergeTask(ctx, arg, opts)),
    ),
    vscode.commands.registerCommand('borg.cancelTask', (arg?: unknown) => cancelTask(ctx, arg)),
    vscode.commands.registerCommand(
      'borg.retryTask',
      whenTrusted('Retry Task', (arg?: unknown) => retryTask(ctx, arg)),
    ),
    vscode.commands.registerCommand('borg.deleteTask', (arg?: unknown, opts?: { deleteBranch?: boolean }) => deleteTask(ctx, arg, opts)),
    vscode.commands.registerCommand('borg.setApiKey', (arg?: unknown) => setApiKey(ctx, arg)),
    vscode.commands.registerCommand(
      'borg.raiseBudget',
      whenTrusted('Raise Budget', (arg?: unknown, opts?: RaiseBudgetOptions) => raiseBudget(ctx, arg, opts)),
    ),
    vscode.commands.registerCommand('borg.showOutput', () => showOutput(ctx)),
    vscode.workspace.registerTextDocumentContentProvider(GIT_SCHEME, new GitDocuments(git)),
    vscode.workspace.registerTextDocumentContentProvider(WORKTREE_SCHEME, new WorktreeDocuments()),
  ];
}

/** The task verbs with a picker (Set API Key acts on every blocked task, not on one; Show Output on no task). */
type PickedVerb = Exclude<TaskVerb, 'setApiKey' | 'showOutput'>;

/** Per command: the QuickPick title, which tasks fit (core/taskLife.ts, plus the disk for a worktree), and what to say when none does. */
const VERBS: Record<PickedVerb, { title: string; fits: (t: Task) => boolean; none: string }> = {
  show: { title: 'Show Task', fits: (t) => fitsTask('show', t), none: 'There are no tasks yet.' },
  openWorktree: { title: 'Open Worktree', fits: (t) => fitsTask('openWorktree', t) && fs.existsSync(t.worktree!), none: 'No task has a worktree yet: it is made when its first phase starts.' },
  diff: { title: 'Show Diff', fits: (t) => fitsTask('diff', t), none: 'No task has a branch yet: it is made when its first phase starts.' },
  merge: { title: 'Merge Task', fits: (t) => fitsTask('merge', t), none: 'No task is done and unmerged: only done tasks can be merged, once.' },
  cancel: { title: 'Cancel Task', fits: (t) => fitsTask('cancel', t), none: 'No task is queued, running, retrying or blocked.' },
  retry: { title: 'Retry Task', fits: (t) => fitsTask('retry', t), none: 'No task is failed, blocked, cancelled or retrying.' },
  raiseBudget: { title: 'Raise Budget', fits: (t) => fitsTask('raiseBudget', t), none: 'No task is blocked by a cost cap.' },
  delete: { title: 'Delete Task', fits: (t) => fitsTask('delete', t), none: 'There are no tasks.' },
};

/** Verbs whose command refuses, with the table's words, a task named by id that they do not fit (the others explain themselves). */
const CHECKED: ReadonlySet<PickedVerb> = new Set(['merge', 'cancel', 'retry', 'raiseBudget']);

/**
 * The task a command acts on: a task id (palette, tests, the detail panel), a tree item's task
 * (context menu), or — with neither — the user's pick among the tasks that fit `verb`.
 */
async function target(ctx: BorgContext, arg: unknown, verb: PickedVerb): Promise<Task | undefined> {
  const id = taskIdOf(arg);
  if (id !== undefined) {
    const task = ctx.scheduler.tasks.get(id);
    if (!task) {
      void vscode.window.showErrorMessage(`There is no task ${id}; it may have been deleted.`);
      return undefined;
    }
    if (CHECKED.has(verb)) {
      try {
        checkTaskVerb(verb, task);
      } catch (e) {
        showError(ctx, `${VERBS[verb].title} refused`, e);
        return undefined;
      }
    }
    return task;
  }
  const fits = ctx.scheduler.tasks.list().filter(VERBS[verb].fits).reverse();
  if (fits.length === 0) {
    void vscode.window.showInformationMessage(VERBS[verb].none);
    return undefined;
  }
  const pick = await vscode.window.showQuickPick(
    fits.map((t) => ({ label: `#${t.id} ${t.title}`, description: t.status === 'blocked' || t.status === 'done' || t.status === 'merged' ? rowWords(t) : `${t.status} · ${rowWords(t)}`, task: t })),
    { title: VERBS[verb].title, placeHolder: 'Task', matchOnDescription: true },
  );
  return pick?.task;
}

function taskIdOf(arg: unknown): number | undefined {
  if (typeof arg === 'number' && Number.isInteger(arg)) return arg;
  if (typeof arg === 'string' && /^#?\d+$/.test(arg.trim())) return Number(arg.trim().replace('#', ''));
  const t = arg as Partial<Task> | undefined;
  if (t && typeof t === 'object' && typeof t.id === 'number' && typeof t.status === 'string') return t.id;
  return undefined;
}

/**
 * Borg: Add Task. With a {@link TaskInput} it adds at once and shows no UI. Otherwise: the
 * repository (the workspace folder; a pick when there are several; checked to be in git before
 * anything is typed), the title (InputBox, validated as typed), then the description — a second
 * InputBox, or, with its "Write in Editor" button, a Markdown draft submitted with the draft's
 * "Add Task" button. If adding fails, the error offers to edit the same text again.
 */
export async function addTask(ctx: BorgContext, drafts: TaskDrafts, git: Git, arg?: unknown): Promise<Task | undefined> {
  if (isTaskInput(arg)) {
    const repo = arg.repo ?? vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    if (!repo) {
      void vscode.window.showErrorMessage('Open a folder in a git repository to add tasks to it.');
      return undefined;
    }
    try {
      return added(ctx, await ctx.scheduler.add({ title: arg.title, description: arg.description ?? '', repo }));
    } catch (e) {
      showAddError(ctx, e);
      return undefined;
    }
  }
  return addTaskInteractive(ctx, drafts, git);
}

/**
 * Adding a task failed: a repository with no commit gets the core's words and an **Open Source
 * Control** button (`workbench.view.scm`, where the first commit is made); other errors as usual.
 */
function showAddError(ctx: BorgContext, e: unknown): void {
  if (!(e instanceof NoCommitError)) return showError(ctx, 'Adding the task failed', e);
  ctx.log.warn(e.message);
  void vscode.window.showErrorMessage(e.message, 'Open Source Control').then((a) => a && vscode.commands.executeCommand('workbench.view.scm'));
}

async function addTaskInteractive(ctx: BorgContext, drafts: TaskDrafts, git: Git, before?: Required<TaskInput>): Promise<Task | undefined> {
  const repo = before?.repo ?? (await chooseRepo());
  if (!repo) return undefined;
  try {
    await requireCommit(git, await git.toplevel(repo)); // before anything is typed
  } catch (e) {
    showAddError(ctx, e);
    return undefined;
  }
  const title = await vscode.window.showInputBox({
    title: 'Add Task (1/2): title',
    prompt: 'What should change? One line; the details come next.',
    placeHolder: 'e.g. Add a --json flag to the list command',
    value: before?.title,
    ignoreFocusOut: true,
    validateInput: (v) => checkText(v, ''),
  });
  if (title === undefined) return undefined;
  const described = await askDescription(title, before?.description ?? '');
  if (!described) return undefined;
  if (described.inEditor) {
    await drafts.open(repo, title, described.value);
    return undefined;
  }
  const input = { title, description: described.value, repo };
  try {
    return added(ctx, await ctx.scheduler.add(input));
  } catch (e) {
    ctx.log.error(`Adding the task failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    const text = e instanceof BorgError ? e.message : `Adding the task failed: ${e instanceof Error ? e.message : String(e)}`;
    void vscode.window.showErrorMessage(text, 'Edit and Retry').then((a) => a && addTaskInteractive(ctx, drafts, git, input));
    return undefined;
  }
}

function added(ctx: BorgContext, task: Task): Task {
  ctx.log.info(`task #${task.id} added: ${task.title}`);
  vscode.window.setStatusBarMessage(`$(checklist) Borg: task #${task.id} added`, 5000);
  return task;
}

function isTaskInput(arg: unknown): arg is TaskInput {
  const a = arg as TaskInput | undefined;
  return !!a && typeof a === 'object' && typeof a.title === 'string' && (a.description === undefined || typeof a.description === 'string') && (a.repo === undefined || typeof a.repo === 'string');
}

/** The core's title/description rules as an InputBox validation message. */
function checkText(title: string, description: string): string | undefined {
  try {
    validateTaskText(title, description);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** The workspace folder tasks go to: the only one, or the user's pick. */
async function chooseRepo(): Promise<string | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    const open = await vscode.window.showErrorMessage('Open a folder in a git repository to add tasks to it.', 'Open Folder');
    if (open) await vscode.commands.executeCommand('workbench.action.files.openFolder');
    return undefined;
  }
  if (folders.length === 1) return folders[0].uri.fsPath;
  const pick = await vscode.window.showQuickPick(
    folders.map((f) => ({ label: f.name, description: f.uri.fsPath, folder: f })),
    { title: 'Add Task: repository', placeHolder: 'The workspace folder (git repository) the task changes' },
  );
  return pick?.folder.uri.fsPath;
}

/** The description InputBox; its pencil button asks for the editor instead. */
function askDescription(title: string, value: string): Promise<{ value: string; inEditor: boolean } | undefined> {
  const box = vscode.window.createInputBox();
  const editorButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('edit'), tooltip: 'Write in Editor' };
  box.title = `Add Task (2/2): ${title}`;
  box.prompt = "Describe the change (optional; for a longer description choose 'Write in Editor', the pencil above)";
  box.placeholder = 'Acceptance criteria, files to touch, constraints…';
  box.buttons = [editorButton];
  box.ignoreFocusOut = true;
  box.value = value;
  return new Promise((resolve) => {
    let result: { value: string; inEditor: boolean } | undefined;
    box.onDidChangeValue((v) => (box.validationMessage = v.length > MAX_DESCRIPTION ? `${v.length} characters; the limit is ${MAX_DESCRIPTION}.` : undefined));
    box.onDidAccept(() => {
      if (box.value.length > MAX_DESCRIPTION) return;
      result = { value: box.value, inEditor: false };
      box.hide();
    });
    box.onDidTriggerButton((b) => {
      if (b !== editorButton) return;
      result = { value: box.value, inEditor: true };
      box.hide();
    });
    box.onDidHide(() => {
      box.dispose();
      resolve(result);
    });
    box.show();
  });
}

/** Borg: Add Task from Draft — submits a task draft (first line: title; the rest: description) and closes it. */
export async function submitDraft(ctx: BorgContext, drafts: TaskDrafts, arg?: unknown): Promise<Task | undefined> {
  const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
  const doc = uri && vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (!doc) {
    void vscode.window.showInformationMessage('Open a task draft first: Borg: Add Task, then "Write in Editor".');
    return undefined;
  }
  const repo = drafts.repoOf(doc.uri) ?? (await chooseRepo());
  if (!repo) return undefined;
  const { title, description } = parseDraft(doc.getText());
  try {
    const task = added(ctx, await ctx.scheduler.add({ title, description, repo }));
    drafts.forget(doc.uri);
    await vscode.window.showTextDocument(doc);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    return task;
  } catch (e) {
    showAddError(ctx, e); // the draft stays open: nothing is lost
    return undefined;
  }
}

const DRAFT_NOTE = '<!-- Borg task draft: the first line is the title, the rest the description. Choose "Add Task" (✓) in the editor title to submit; close without saving to discard. -->';

/** First non-empty line (without a leading `#`) is the title; the rest, minus HTML comments, the description. */
export function parseDraft(text: string): { title: string; description: string } {
  const lines = text.replace(/<!--[\s\S]*?-->/g, '').split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first < 0) return { title: '', description: '' };
  return {
    title: lines[first].replace(/^\s*#+\s*/, ''),
    description: lines
      .slice(first + 1)
      .join('\n')
      .trim(),
  };
}

/** Open task drafts (untitled Markdown documents) and the repository each is for. */
export class TaskDrafts implements vscode.Disposable {
  private readonly repos = new Map<string, string>();
  private readonly closing = vscode.workspace.onDidCloseTextDocument((d) => this.forget(d.uri));

  async open(repo: string, title: string, description: string): Promise<void> {
    const doc = await vscode.workspace.openTextDocument({ language: 'markdown', content: `# ${title}\n\n${description}${description ? '\n' : ''}\n${DRAFT_NOTE}\n` });
    this.repos.set(doc.uri.toString(), repo);
    this.publish();
    // The cursor goes to the end of the description (line 3 on: title, blank line, description).
    const lines = description.split('\n');
    const end = new vscode.Position(2 + lines.length - 1, lines[lines.length - 1].length);
    await vscode.window.showTextDocument(doc, { selection: new vscode.Range(end, end) });
    vscode.window.setStatusBarMessage('$(check) Borg: write the task, then choose "Add Task" in the editor title', 15_000);
  }

  repoOf(uri: vscode.Uri): string | undefined {
    return this.repos.get(uri.toString());
  }

  forget(uri: vscode.Uri): void {
    if (this.repos.delete(uri.toString())) this.publish();
  }

  dispose(): void {
    this.closing.dispose();
  }

  private publish(): void {
    void vscode.commands.executeCommand('setContext', DRAFTS_KEY, [...this.repos.keys()]);
  }
}

/** Borg: Refresh Tasks — repaints the view and dispatches (the scheduler's safety net, at once). */
function refreshTasks(ctx: BorgContext): void {
  ctx.tasksView.refresh(true);
  ctx.scheduler.dispatch();
}

/** Borg: Show Task — the task's detail panel (one per task, reused). */
export async function showTask(ctx: BorgContext, details: TaskDetails, arg?: unknown): Promise<vscode.WebviewPanel | undefined> {
  const task = await target(ctx, arg, 'show');
  return task && details.show(task);
}

/**
 * A click on a task row: the detail panel of the task selected in the Tasks view. While VS Code
 * repaints the tree, the clicked row's handle maps to no element for a moment and the selection
 * reads empty; wait for it briefly rather than drop the click.
 */
async function showSelectedTask(ctx: BorgContext, details: TaskDetails): Promise<vscode.WebviewPanel | undefined> {
  for (let waited = 0; waited <= 1000; waited += 50) {
    const node = ctx.tasksView.treeView.selection.at(-1);
    if (node) {
      const task = isGroup(node) ? undefined : ctx.scheduler.tasks.get(node.id);
      return task && details.show(task);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/** Borg: Open Worktree — the task's worktree in a new window. */
export async function openWorktree(ctx: BorgContext, arg?: unknown): Promise<vscode.Uri | undefined> {
  const task = await target(ctx, arg, 'openWorktree');
  if (!task) return undefined;
  if (!task.worktree || !fs.existsSync(task.worktree)) {
    void vscode.window.showInformationMessage(
      task.worktree ? `The worktree of task #${task.id} (${task.worktree}) no longer exists.` : `Task #${task.id} has no worktree yet: it is made when its first phase starts.`,
    );
    return undefined;
  }
  const uri = vscode.Uri.file(task.worktree);
  await vscode.commands.executeCommand('vscode.openFolder', uri, { forceNewWindow: true });
  return uri;
}

/**
 * Borg: Show Diff — what the task's branch changed since it left its base (`base...branch`):
 * VS Code's changes editor over every file, or the diff editor for a single file. Left: the file
 * at the merge base (a read-only `borg-git:` document); right: the file in the worktree — a
 * regular file as itself, a link the agent wrote (or anything else) as a read-only
 * `borg-worktree:` document naming it, never followed (see gitDocuments.ts `branchChanges`).
 */
export async function showDiff(ctx: BorgContext, git: Git, arg?: unknown): Promise<FileChange[] | undefined> {
  const task = await target(ctx, arg, 'diff');
  if (!task) return undefined;
  const { branch, baseBranch } = task;
  if (!branch || !baseBranch) {
    void vscode.window.showInformationMessage(`Task #${task.id} has no branch yet: it is made when its first phase starts.`);
    return undefined;
  }
  try {
    const { mergeBase, changes } = await branchChanges(git, { ...task, branch, baseBranch });
    const title = `Task #${task.id}: ${baseBranch}...${branch}`;
    if (changes.length === 0) {
      void vscode.window.showInformationMessage(`${branch} has no changes against ${baseBranch} yet.`);
    } else if (changes.length === 1) {
      const [c] = changes;
      await vscode.commands.executeCommand('vscode.diff', c.left ?? GitDocuments.uri(task.repo, mergeBase, c.file), c.right ?? GitDocuments.uri(task.repo, branch, c.file), `${c.file} (${title})`);
    } else {
      await vscode.commands.executeCommand(
        'vscode.changes',
        title,
        changes.map((c) => [c.resource, c.left, c.right]),
      );
    }
    return changes;
  } catch (e) {
    showError(ctx, 'Show Diff failed', e);
    return undefined;
  }
}

/**
 * Borg: Merge Task — merges a done task's branch into its base branch after a confirmation
 * (programmatic `{ confirmed: true }` skips it). A conflict changes nothing and says which files.
 */
export async function mergeTask(ctx: BorgContext, arg?: unknown, opts?: { confirmed?: boolean }): Promise<boolean> {
  const task = await target(ctx, arg, 'merge');
  if (!task) return false;
  if (!opts?.confirmed && task.status === 'done') {
    const answer = await vscode.window.showWarningMessage(
      `Merge task #${task.id} into ${task.baseBranch}?`,
      { modal: true, detail: `${task.branch} is merged into ${task.baseBranch} in ${task.repo} with a merge commit; ${task.baseBranch} must be checked out there. On a conflict nothing changes.` },
      'Merge',
    );
    if (answer !== 'Merge') return false;
  }
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: merging task #${task.id}…` }, () => ctx.scheduler.merge(task.id)); // marks it merged
    void vscode.window.showInformationMessage(`Merged ${task.branch} into ${task.baseBranch}.`, 'Delete Task and Branch').then((a) => a && deleteTask(ctx, task.id, { deleteBranch: true }));
    return true;
  } catch (e) {
    showError(ctx, 'Merge failed', e);
    return false;
  }
}

/** Borg: Cancel Task — stops the task's running agent (its worktree and branch stay) and marks it cancelled. */
export async function cancelTask(ctx: BorgContext, arg?: unknown): Promise<Task | undefined> {
  const task = await target(ctx, arg, 'cancel');
  if (!task) return undefined;
  try {
    return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: cancelling task #${task.id}…` }, () => ctx.scheduler.cancel(task.id));
  } catch (e) {
    showError(ctx, 'Cancel failed', e);
    return undefined;
  }
}

/** Borg: Retry Task — runs a failed (with fresh attempts), blocked or cancelled task's phase again. */
export async function retryTask(ctx: BorgContext, arg?: unknown): Promise<Task | undefined> {
  const task = await target(ctx, arg, 'retry');
  if (!task) return undefined;
  try {
    return ctx.scheduler.retry(task.id);
  } catch (e) {
    showError(ctx, 'Retry failed', e);
    return undefined;
  }
}

/**
 * Borg: Delete Task — asks for confirmation and whether to delete the branch too; programmatic
 * `{ deleteBranch }` skips the question. Cancels a running task first; removes the worktree.
 */
export async function deleteTask(ctx: BorgContext, arg?: unknown, opts?: { deleteBranch?: boolean }): Promise<boolean> {
  const task = await target(ctx, arg, 'delete');
  if (!task) return false;
  let deleteBranch = opts?.deleteBranch;
  if (deleteBranch === undefined) {
    const keep = 'Delete, Keep Branch';
    const drop = 'Delete Task and Branch';
    const answer = await vscode.window.showWarningMessage(
      `Delete task #${task.id} "${task.title}"?`,
      {
        modal: true,
        detail:
          `${task.worktree ? `Its worktree (${task.worktree}) is removed, with any uncommitted changes. ` : ''}${task.branch ? `Its branch ${task.branch} keeps the agents' commits unless you delete it too.` : ''}`.trim() ||
          undefined,
      },
      ...(task.branch ? [keep, drop] : [keep]),
    );
    if (!answer) return false;
    deleteBranch = answer === drop;
  }
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Borg: deleting task #${task.id}…` }, () =>
      ctx.scheduler.delete(task.id, { deleteBranch: !!deleteBranch }),
    );
    return true;
  } catch (e) {
    showError(ctx, 'Delete failed', e);
    return false;
  }
}

/**
 * Borg: Set Anthropic API Key — stores the key in SecretStorage (a string argument skips the
 * password box; empty removes the key), then puts blocked tasks back in the queue. Resolves with
 * how many tasks were unblocked.
 */
export async function setApiKey(ctx: BorgContext, arg?: unknown): Promise<number | undefined> {
  const key =
    typeof arg === 'string'
      ? arg
      : await vscode.window.showInputBox({
          title: 'Borg: Anthropic API Key',
          prompt: "Stored in VS Code's secret storage; agents receive it on stdin only. Leave empty to remove the stored key.",
          placeHolder: 'sk-ant-…',
          password: true,
          ignoreFocusOut: true,
        });
  if (key === undefined) return undefined;
  try {
    await ctx.secrets.setAnthropicKey(key);
  } catch (e) {
    showError(ctx, 'Storing the API key failed', e);
    return undefined;
  }
  if (!key.trim()) {
    void vscode.window.showInformationMessage('The Anthropic API key was removed.');
    return 0;
  }
  const n = ctx.scheduler.unblockAll();
  void vscode.window.showInformationMessage(`Anthropic API key stored.${n ? ` ${n} blocked task${n === 1 ? '' : 's'} queued again.` : ''}`);
  return n;
}

/** What `borg.raiseBudget` takes from a program (tests): the new cap, so no InputBox is shown. */
export interface RaiseBudgetOptions {
  /** The new cap (USD; 0 = no cap). */
  usd?: number;
  /** Retry the task once the cap is written, without asking. */
  retry?: boolean;
}

/**
 * Borg: Raise Budget… — for a task blocked by a cost cap: asks for a new `borg.maxCostUsdPerTask`
 * or `borg.maxCostUsdPerDay`, whichever the gateway's refusal named (taskLife.ts
 * `budgetSettingOf`), in an InputBox whose gear button opens the setting instead; writes it
 * where it is set now (the workspace's settings if it is set there, else the user's), then
 * offers Retry. Resolves with the setting's key and value written, or undefined.
 */
export async function raiseBudget(ctx: BorgContext, arg?: unknown, opts?: RaiseBudgetOptions): Promise<{ key: string; usd: number } | undefined> {
  const task = await target(ctx, arg, 'raiseBudget');
  if (!task) return undefined;
  const setting = budgetSettingOf(task);
  const key = `borg.${setting}`;
  const now = ctx.config.gateway[setting];
  const spent = spentFor(ctx, task.id, setting);
  const usd = opts?.usd ?? (await askBudget(key, now, spent));
  if (usd === undefined) return undefined;
  const config = vscode.workspace.getConfiguration('borg');
  const where = config.inspect(setting)?.workspaceValue !== undefined && vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  try {
    await config.update(setting, usd, where);
  } catch (e) {
    showError(ctx, `Writing ${key} failed`, e);
    return undefined;
  }
  ctx.log.info(`${key} set to ${usd} (task #${task.id} was blocked by it)`);
  const retry = async () => {
    if (fitsTask('retry', ctx.scheduler.tasks.get(task.id) ?? task)) await retryTask(ctx, task.id);
  };
  if (opts?.retry) await retry();
  else if (!opts) {
    const cap = usd > 0 ? formatUsd(usd) : 'no cap';
    void vscode.window.showInformationMessage(`${key} is now ${cap}. Retry task #${task.id}?`, 'Retry').then((a) => a && retry());
  }
  return { key, usd };
}

/** What counts against the cap: the task's spend (all runs) or today's (USD, the gateway's ledger); 0 without a gateway. */
function spentFor(ctx: BorgContext, id: number, setting: 'maxCostUsdPerTask' | 'maxCostUsdPerDay'): number {
  const g = ctx.runtime.gateway;
  try {
    return g ? (setting === 'maxCostUsdPerTask' ? g.spentByTask(id) : g.spentToday()) : 0;
  } catch {
    return 0;
  }
}

/** The new cap's InputBox (USD, ≥ 0; above what is spent, or it blocks again); the gear opens the Settings editor at the setting. */
function askBudget(key: string, now: number, spent: number): Promise<number | undefined> {
  const box = vscode.window.createInputBox();
  const settingsButton: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('settings-gear'), tooltip: `Open the setting ${key}` };
  box.title = `Raise Budget: ${key}`;
  box.prompt = `USD; now ${now > 0 ? formatUsd(now) : 'no cap'}, spent ${formatUsd(spent)}. 0 removes the cap.`;
  box.value = String(Math.max(now * 2, Math.ceil(spent * 2)) || 10);
  box.buttons = [settingsButton];
  box.ignoreFocusOut = true;
  const check = (v: string): string | undefined => {
    const n = Number(v.trim());
    if (!v.trim() || !Number.isFinite(n) || n < 0) return 'A number of US dollars, 0 or more (0 = no cap).';
    if (n > 0 && n <= spent) return `${formatUsd(spent)} is spent already: a cap of ${formatUsd(n)} blocks the task again.`;
    return undefined;
  };
  return new Promise((resolve) => {
    let result: number | undefined;
    box.onDidChangeValue((v) => (box.validationMessage = check(v)));
    box.onDidAccept(() => {
      if (check(box.value)) return;
      result = Number(box.value.trim());
      box.hide();
    });
    box.onDidTriggerButton(() => {
      box.hide();
      void vscode.commands.executeCommand('workbench.action.openSettings', key);
    });
    box.onDidHide(() => {
      box.dispose();
      resolve(result);
    });
    box.show();
  });
}

/** Borg: Show Output — the `Borg Pipeline` log channel (phases, commits, block reasons). */
export function showOutput(ctx: BorgContext): void {
  ctx.log.show(true);
}
