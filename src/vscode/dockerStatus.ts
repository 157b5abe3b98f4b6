import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import { describeDockerDown, DockerDown, dockerDownOf } from '../core/dockerDown';
import type { Engine } from '../core/engine';
import { describeEngine, sourceFor } from '../core/engines';
import type { Pipeline } from '../core/pipeline';

/** Context key set while Docker cannot be reached (any cause). */
export const DOCKER_UNREACHABLE_KEY = 'borg.dockerUnreachable';
/** Context key with the cause (`notRunning`, `permission`, `setting`, `context`, `tls`, `other`; dockerDown.ts), '' while Docker answers: one welcome view per cause. */
export const DOCKER_DOWN_KEY = 'borg.dockerDown';
/** Context key set while `borg.agentImage` is not present locally (the welcome offers Build Demo Image). */
export const IMAGE_MISSING_KEY = 'borg.imageMissing';

/**
 * The Docker down states as VS Code shows them: context keys for the cause-specific welcome
 * views (package.json `viewsWelcome`), the address tried and the error in the Agents view's
 * description (welcome content is static text, and a tree message would hide it), one log line
 * per change. The image check runs on {@link checkImage} (after a full refresh), never per repaint.
 */
export class DockerStatus extends Disposable {
  private shown: string | undefined;
  private downNow: DockerDown | undefined;
  private imageMissingNow: string | undefined;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly engine: Engine,
    private readonly view: vscode.TreeView<unknown>,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(pipeline.onDidChange(() => this.update()));
    this.register(vscode.commands.registerCommand('borg.showDockerError', () => this.showError()));
    this.update(true);
  }

  /** The classified failure shown now; undefined while Docker answers. */
  get down(): DockerDown | undefined {
    return this.downNow;
  }

  /** The missing agent image, when the last check found it absent. */
  get imageMissing(): string | undefined {
    return this.imageMissingNow;
  }

  /** Looks the agent image up once (Docker answers: a local inspect, nothing pulled) and sets {@link IMAGE_MISSING_KEY}. */
  async checkImage(image: string): Promise<void> {
    let missing: string | undefined;
    try {
      missing = (await this.engine.image(image)) ? undefined : image;
    } catch {
      return; // Docker down: the down state says so
    }
    if (missing === this.imageMissingNow) return;
    this.imageMissingNow = missing;
    void vscode.commands.executeCommand('setContext', IMAGE_MISSING_KEY, missing !== undefined);
    if (missing) this.log.info(`the agent image ${missing} (borg.agentImage) is not present locally; Borg never pulls: build it or pick another`);
  }

  private update(force = false): void {
    const err = this.pipeline.dockerError;
    const down = err ? dockerDownOf(err, err.endpoint, sourceFor(this.engine, err.endpoint)) : undefined;
    const key = down ? `${down.cause}|${down.endpoint}|${down.error}` : '';
    if (!force && key === this.shown) return;
    const wasDown = this.shown !== undefined && this.shown !== '';
    this.shown = key;
    this.downNow = down;
    void vscode.commands.executeCommand('setContext', DOCKER_UNREACHABLE_KEY, !!down);
    void vscode.commands.executeCommand('setContext', DOCKER_DOWN_KEY, down?.cause ?? '');
    this.view.description = down ? `${down.endpoint} — ${down.error}` : undefined;
    if (down) this.log.warn(describeDockerDown(down));
    else if (wasDown) this.log.info(`${describeEngine(this.engine)}: reachable again`);
  }

  private async showError(): Promise<void> {
    const d = this.downNow;
    if (!d) {
      void vscode.window.showInformationMessage(`${describeEngine(this.engine)}: reachable.`);
      return;
    }
    const pick = await vscode.window.showErrorMessage(describeDockerDown(d), 'Retry', 'Open Setting');
    if (pick === 'Retry') void vscode.commands.executeCommand('borg.refresh');
    const setting = sourceFor(this.engine, d.endpoint).kind === 'host' ? 'borg.docker.hosts' : 'borg.dockerHost';
    if (pick === 'Open Setting') void vscode.commands.executeCommand('workbench.action.openSettings', setting);
  }
}
