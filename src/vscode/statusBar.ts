import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import type { Pipeline } from '../core/pipeline';
import type { Scheduler } from '../core/scheduler';

/**
 * The status bar item: `$(server-process) n/4 agents · m queued`, where m counts launches
 * waiting for a slot and tasks waiting for their next phase, `· paused` after Stop All until
 * Resume Tasks; a click focuses the Agents view.
 */
export class StatusBar extends Disposable {
  readonly item: vscode.StatusBarItem;
  /** Tasks waiting to run, re-counted when a task changes (not on every Pipeline change). */
  private queuedTasks = 0;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly scheduler?: Scheduler,
  ) {
    super();
    this.item = this.register(vscode.window.createStatusBarItem('borg.status', vscode.StatusBarAlignment.Left, 50));
    this.item.name = 'Borg Pipeline';
    this.item.command = 'borg.agents.focus';
    this.register(pipeline.onDidChange(() => this.update()));
    if (scheduler) {
      this.queuedTasks = scheduler.queuedCount;
      this.register(
        scheduler.onDidChange(() => {
          this.queuedTasks = scheduler.queuedCount;
          this.update();
        }),
      );
    }
    this.update();
    this.item.show();
  }

  /** The text shown now (for tests). */
  get text(): string {
    return this.item.text;
  }

  private update(): void {
    const p = this.pipeline;
    if (p.dockerError) {
      this.item.text = '$(server-process) Docker unreachable';
      this.item.tooltip = p.dockerError.message;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      return;
    }
    const waiting = p.queuedCount + this.queuedTasks;
    const queued = waiting > 0 ? ` · ${waiting} queued` : '';
    const paused = this.scheduler?.paused ? ' · paused' : '';
    if (p.readOnlyReason) {
      this.item.text = `$(lock) ${p.containers.filter((c) => c.status === 'running').length}/${p.maxParallel} agents · read-only`;
      this.item.tooltip = `${p.readOnlyReason} Borg: Take Over asks that window to hand over.`;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      return;
    }
    // Containers of this workspace started elsewhere (an earlier window, the CLI) count too.
    const live = p.containers.filter((c) => c.status === 'running').length;
    this.item.text = `$(${paused ? 'debug-pause' : 'server-process'}) ${Math.max(p.runningCount, live)}/${p.maxParallel} agents${queued}${paused}`;
    this.item.tooltip =
      `Borg Pipeline: agents running / allowed at once${waiting > 0 ? `; ${p.queuedCount} agent launch${p.queuedCount === 1 ? '' : 'es'} and ${this.queuedTasks} task${this.queuedTasks === 1 ? '' : 's'} waiting` : ''}.` +
      (paused ? ' Tasks are paused (Stop All): run Borg: Resume Tasks to go on.' : '') +
      ' Click to show the Agents view.';
    this.item.backgroundColor = paused ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
  }
}
