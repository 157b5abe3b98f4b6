import * as vscode from 'vscode';
import type { Agent } from '../core/agent';
import type { BorgContext } from './ctx';

/** An open hardline: the terminal, the agent following the restarted container, and what the terminal showed. */
export interface Hardline {
  terminal: vscode.Terminal;
  agent: Promise<Agent>;
  /** Everything written to the terminal so far, without colour codes (for tests and logs). */
  transcript(): string;
}

/**
 * Opens an integrated terminal bridged to a crashed agent through dockerode (no docker CLI): a
 * `Pseudoterminal` subscribed to the agent's output before the container is restarted, so the
 * first line is not missed. The Pipeline restarts the container and sends its input again (see
 * `Pipeline.hardline`). Ctrl+C stops the container; closing the terminal leaves it running.
 */
export function openHardline(ctx: BorgContext, name: string): Hardline {
  const write = new vscode.EventEmitter<string>();
  let text = '';
  const out = (s: string) => {
    text += s;
    write.fire(s.replace(/\r?\n/g, '\r\n'));
  };
  const note = (s: string) => out(`\x1b[2m[borg] ${s}\x1b[0m\n`);
  const subscription = ctx.pipeline.onDidOutput((e) => {
    if (e.agent === name) out(`${e.line}\n`);
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
          note(`${name} is running again (Ctrl+C stops it; closing this terminal leaves it running).`);
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
      if (data === '\x03') {
        note(`stopping ${name}…`);
        ctx.pipeline.stopAgent(name).catch((e: unknown) => note(`stop failed: ${e instanceof Error ? e.message : String(e)}`));
      }
    },
  };
  const terminal = vscode.window.createTerminal({ name: `Hardline: ${name}`, pty, iconPath: new vscode.ThemeIcon('plug') });
  terminal.show();
  return { terminal, agent, transcript: () => text.replace(/\x1b\[[0-9;]*m/g, '') };
}
