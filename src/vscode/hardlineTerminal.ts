import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import { BoundedText } from '../core/boundedText';
import { terminalText } from '../core/streamText';
import type { BorgContext } from './ctx';

/** How much of a hardline's output its transcript keeps: the last 1 Mi characters (the agent's agent.log and Show Logs have all of it). */
export const TRANSCRIPT_MAX_CHARS = 1024 * 1024;

/** An open hardline: the terminal, the agent following the restarted container, and what the terminal showed. */
export interface Hardline {
  terminal: vscode.Terminal;
  agent: Promise<Agent>;
  /**
   * What was written to the terminal, without colour codes (for tests and logs): the last
   * {@link TRANSCRIPT_MAX_CHARS} characters, cut at a line start, after a note saying how much
   * older output was dropped and that Show Logs has it.
   */
  transcript(): string;
}

/**
 * Opens an integrated terminal bridged to a crashed agent through dockerode (no docker CLI): a
 * `Pseudoterminal` subscribed to the agent's output before the container is restarted, so the
 * first line is not missed. The Pipeline restarts the container and sends its input again (see
 * `Pipeline.hardline`). Output shows as text (core/streamText.ts `terminalText`); `r` toggles the raw NDJSON.
 * Ctrl+C stops the container; closing the terminal leaves it running.
 */
export function openHardline(ctx: BorgContext, name: string, opts: { transcriptMaxChars?: number } = {}): Hardline {
  const write = new vscode.EventEmitter<string>();
  const text = new BoundedText(opts.transcriptMaxChars ?? TRANSCRIPT_MAX_CHARS);
  const out = (s: string) => {
    text.append(s);
    write.fire(s.replace(/\r?\n/g, '\r\n'));
  };
  const note = (s: string) => out(`\x1b[2m[borg] ${s}\x1b[0m\n`);
  let raw = false;
  const subscription = ctx.pipeline.onDidOutput((e) => {
    if (e.agent === name) out(terminalText(e.line, raw));
  });
  let resolveAgent!: (a: Agent) => void;
  let rejectAgent!: (e: unknown) => void;
  const agent = new Promise<Agent>((res, rej) => {
    resolveAgent = res;
    rejectAgent = rej;
  });
  agent.catch(() => undefined);

  const pty: vscode.Pseudoterminal = {
    onDidWrite: write.event,
    open: () => {
      note(`hardline ${name}: restarting the container and sending its input again…`);
      ctx.pipeline.hardline(name).then(
        (a) => {
          note(`${name} is running again (Ctrl+C stops it; r shows the raw NDJSON; closing this terminal leaves it running).`);
          resolveAgent(a);
          void a.done.then(() => {
            const how = a.state === 'oom-killed' ? 'was OOM-killed' : a.state === 'detached' ? 'is no longer followed' : `exited with ${a.exitCode ?? '?'} (${a.state})`;
            note(`${name} ${how}.`);
          });
        },
        (e: unknown) => {
          note(`hardline failed: ${e instanceof Error ? e.message : String(e)}`);
          rejectAgent(e);
        },
      );
    },
    close: () => {
      subscription.dispose();
      write.dispose();
    },
    handleInput: (data) => {
      if (data === 'r' || data === 'R') {
        raw = !raw;
        note(raw ? 'showing the raw NDJSON (press r for text)' : 'showing the output as text (press r for the raw NDJSON)');
      } else if (data === '\x03') {
        note(`stopping ${name}…`);
        ctx.pipeline.stopAgent(name).catch((e: unknown) => note(`stop failed: ${e instanceof Error ? e.message : String(e)}`));
      }
    },
  };
  const terminal = vscode.window.createTerminal({ name: `Hardline: ${name}`, pty, iconPath: new vscode.ThemeIcon('plug') });
  terminal.show();
  const transcript = () => text.textWithNote((dropped) => `[borg] ${dropped} characters of older output are not kept here; Show Logs has the whole output of ${name}.`).replace(/\x1b\[[0-9;]*m/g, '');
  return { terminal, agent, transcript };
}
