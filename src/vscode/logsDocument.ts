import * as vscode from 'vscode';
import { Disposable } from '../core/disposable';
import type { Pipeline } from '../core/pipeline';
import { LogTail } from '../core/logTail';
import { KeyedThrottle } from './keyedThrottle';

/** URI scheme of the read-only container-log documents. */
export const LOGS_SCHEME = 'borg-logs';

/** How many of the container's last lines a log document shows. */
export const LOG_TAIL_LINES = 5000;

/** How often (ms) at most an open log document of a running agent is re-read: ≤ 2 a second. */
export const LOG_REFRESH_MS = 500;

/** The end of the raw variant's path (a space and parentheses never occur in a container name). */
const RAW = ' (raw)';

/**
 * Serves `borg-logs:/<name>.log` documents: the container's last {@link LOG_TAIL_LINES} lines,
 * read from Docker with its receive timestamps (`logs` with `timestamps: true`; after the first
 * read only the lines since the last one, core/logTail.ts) and rendered
 * with core/streamText.ts — the assistant's text, one line per tool call, the result with its
 * cost — or, for `borg-logs:/<name> (raw).log`, the NDJSON as written (control characters shown
 * as `\xNN`). Documents from a content provider are read-only in VS Code.
 *
 * While an agent runs, each open document of it follows live: every output line of that agent
 * (`Pipeline.onDidOutput`) asks for a re-read, at most every {@link LOG_REFRESH_MS} per
 * document (`onDidChange` → VS Code calls {@link provideTextDocumentContent} again, only for
 * documents that are open); the agent's end asks once more, for its last lines.
 */
export class LogsDocuments extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly changed = this.register(new vscode.EventEmitter<vscode.Uri>());
  readonly onDidChange = this.changed.event;
  /** What each open document shows, by URI: later reads fetch only the new lines. */
  private readonly tails = new Map<string, LogTail>();
  /** The read in flight per URI: reads of one document run one after the other. */
  private readonly reading = new Map<string, Promise<string>>();

  constructor(
    private readonly pipeline: Pipeline,
    refreshMs = LOG_REFRESH_MS,
  ) {
    super();
    this.register(
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.tails.delete(d.uri.toString());
        this.reading.delete(d.uri.toString());
      }),
    );
    const refresh = this.register(new KeyedThrottle<string>(refreshMs, (uris) => uris.forEach((u) => this.changed.fire(vscode.Uri.parse(u)))));
    // Per output line: nothing to scan while no borg-logs: document is open or being read.
    const following = (name: string) =>
      this.tails.size === 0 && this.reading.size === 0 ? [] : vscode.workspace.textDocuments.filter((d) => d.uri.scheme === LOGS_SCHEME && nameOf(d.uri) === name && !d.isClosed);
    this.register(pipeline.onDidOutput(({ agent }) => following(agent).forEach((d) => refresh.trigger(d.uri.toString()))));
    // The agent's end: re-read once more (the last lines may reach Docker's log after the attach stream).
    const running = new Set<string>();
    this.register(
      pipeline.onDidChange(() => {
        for (const [name, a] of pipeline.agents) {
          const live = a.state === 'running';
          if (live) running.add(name);
          else if (running.delete(name)) following(name).forEach((d) => refresh.trigger(d.uri.toString()));
        }
      }),
    );
  }

  /** The rendered (`raw` false) or raw document of container `name`. */
  static uri(name: string, raw = false): vscode.Uri {
    return vscode.Uri.from({ scheme: LOGS_SCHEME, path: `/${name}${raw ? RAW : ''}.log` });
  }

  /** True for the raw variant. */
  static isRaw(uri: vscode.Uri): boolean {
    return uri.path.endsWith(`${RAW}.log`);
  }

  /** Reads an open document again, whole, now (Show Logs on a document already open). */
  reload(uri: vscode.Uri): void {
    this.tails.delete(uri.toString());
    this.changed.fire(uri);
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const key = uri.toString();
    const read = (this.reading.get(key) ?? Promise.resolve('')).then(
      () => this.read(uri),
      () => this.read(uri),
    );
    this.reading.set(key, read);
    return read;
  }

  /** Reads what is new since the document's last read (all of it the first time: core/logTail.ts). */
  private async read(uri: vscode.Uri): Promise<string> {
    const key = uri.toString();
    const name = nameOf(uri);
    let tail = this.tails.get(key);
    if (!tail) this.tails.set(key, (tail = new LogTail(LogsDocuments.isRaw(uri) ? 'raw' : 'rendered', LOG_TAIL_LINES)));
    tail.add(await this.pipeline.logs(name, LOG_TAIL_LINES, { timestamps: true, since: tail.since }));
    const shown = tail.text();
    return shown.length > 0 ? shown : `(${name} has written no output yet)\n`;
  }
}

/** The container name of a log document's URI. */
export function nameOf(uri: vscode.Uri): string {
  return uri.path
    .replace(/^\//, '')
    .replace(/\.log$/, '')
    .replace(/ \(raw\)$/, '');
}

/**
 * Borg: Toggle Raw Logs (the log editor's title button): opens the other variant — rendered
 * text or the raw NDJSON — of the log document shown, in its place.
 */
export async function toggleRawLogs(uri?: vscode.Uri): Promise<vscode.TextEditor | undefined> {
  const current = uri ?? vscode.window.activeTextEditor?.document.uri;
  if (!current || current.scheme !== LOGS_SCHEME) {
    void vscode.window.showInformationMessage('Toggle Raw Logs works on a Borg log document: open one with Borg: Show Logs.');
    return undefined;
  }
  const other = LogsDocuments.uri(nameOf(current), !LogsDocuments.isRaw(current));
  const doc = await vscode.workspace.openTextDocument(other);
  return vscode.window.showTextDocument(doc, { preview: true, viewColumn: vscode.window.activeTextEditor?.viewColumn });
}
