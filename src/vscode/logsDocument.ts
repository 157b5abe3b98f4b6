import * as vscode from 'vscode';
import type { Pipeline } from '../core/pipeline';

/** URI scheme of the read-only container-log documents. */
export const LOGS_SCHEME = 'borg-logs';

/**
 * Serves `borg-logs:/<name>.log` documents: the container's last 2000 lines of output, read
 * through the Pipeline when the document opens. Documents from a content provider are
 * read-only in VS Code.
 */
export class LogsDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly pipeline: Pipeline) {}

  static uri(name: string): vscode.Uri {
    return vscode.Uri.from({ scheme: LOGS_SCHEME, path: `/${name}.log`, query: String(Date.now()) });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const name = uri.path.replace(/^\//, '').replace(/\.log$/, '');
    const text = await this.pipeline.logs(name);
    return text.length > 0 ? text : `(${name} has written no output yet)\n`;
  }
}
