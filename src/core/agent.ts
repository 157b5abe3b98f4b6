import type { RunRef } from './gateway/upstream';
import * as readline from 'node:readline';
import type { Duplex } from 'node:stream';
import { Disposable, toDisposable } from './disposable';
import type { Engine } from './engine';
import { errorText } from './engine';
import { DockerUnreachableError } from './errors';
import type { StateDirs } from './stateDirs';
import { emptySummary, foldLine, StreamSummary } from './streamJson';

/** Most output kept in memory per agent (bytes); the stream itself is in agent.log. */
export const OUTPUT_CAP_BYTES = 256 * 1024;

/**
 * Most time (ms) the end of a run waits for the output still in flight after Docker's wait
 * returned (the attach stream ends on its own a moment later); a stream that never ends does not
 * hold the agent.
 */
export const OUTPUT_DRAIN_MS = 2_000;

/** Looks (100 ms apart) for a removal after an outside kill (exit 137) before calling it a crash. */
const REMOVAL_LOOKS = 10;

/** Most output written to an agent's agent.log per run (bytes); Docker keeps the rest (Show Logs). */
export const LOG_CAP_BYTES = 16 * 1024 * 1024;

/**
 * Where an agent is in its life. The final states are all but `running`:
 * - `exited` (0), `crashed` (non-zero), `oom-killed` (Docker's `State.OOMKilled`, any exit code);
 * - `timed-out` (the watchdog stopped it), `stopped` (Stop Agent, Stop All or shutdown stopped it);
 * - `detached` (no longer followed; the container runs on);
 * - `lost`: the run was ended from outside — Docker became unreachable (`lostReason: 'docker'`),
 *   the container was removed (`'removed'`) or stopped or killed (`'killed'`) outside Borg;
 * - `failed`: following it failed for another reason (`error` says why).
 */
export type AgentState = 'running' | 'exited' | 'crashed' | 'oom-killed' | 'timed-out' | 'stopped' | 'detached' | 'lost' | 'failed';

/**
 * Why an agent is `lost`: Docker became unreachable, the container was removed outside Borg, or
 * it was stopped or killed from outside (`docker stop`/`kill`, the daemon shutting down: Docker
 * recorded a `kill` event Borg did not cause).
 */
export type LostReason = 'docker' | 'removed' | 'killed';

/** Everything an {@link Agent} needs; the Pipeline builds it. */
export interface AgentOptions {
  engine: Pick<Engine, 'wait' | 'inspect' | 'stop' | 'kill' | 'demux' | 'containerEvents'>;
  stateDirs: StateDirs;
  name: string;
  id: string;
  persona: string;
  /** The attached (multiplexed, non-TTY) output stream, attached before start. */
  stream: Duplex;
  /** Watchdog budget in ms, counted from `startedAt`; 0 disables it. Past already: the agent is stopped at once. */
  timeoutMs: number;
  /** Seconds between SIGTERM and SIGKILL when the watchdog or a stop ends the container. */
  graceSeconds: number;
  /** When the container started (ms since the epoch); an adopted agent's watchdog counts from here. Default: now. */
  startedAt?: number;
  /** The run's gateway token holder (gateway/gateway.ts), when the container reaches the model through the gateway. */
  gatewayRun?: RunRef;
  /** The Docker host it runs on (several hosts: `borg.docker.hosts`); undefined with one daemon. */
  host?: string;
  /** Called on every change of state (not per output line: `onOutput` is, so views repaint one row for it). */
  onChange: (agent: Agent) => void;
  /** Called for every output line (stdout and stderr), without the newline, after `lastLine` is set. */
  onOutput?: (agent: Agent, line: string) => void;
  /**
   * Called once, as soon as Docker reports the container exited (its `wait` resolved), before
   * the exit is judged and recorded (inspect, the output drain, the log's close): the Pipeline
   * frees the agent's slot here, so the next launch does not wait for this run's bookkeeping.
   * Not called when the run ends otherwise (detached, Docker gone, a failure): `done` covers those.
   */
  onExited?: (agent: Agent) => void;
}

/**
 * One tracked run of a container: follows its output into `agent.log` in its state dir, waits
 * for it to exit and records exit code, OOM and duration. `done` settles (never rejects) when
 * the agent reached a final state — whatever fails on the way (the log file, the stream, Docker)
 * becomes that state, never a rejection; the Pipeline keeps it so nothing runs untracked.
 *
 * The watchdog (`timeoutMs`) stops the container with `graceSeconds` of grace — Docker's stop
 * sends SIGTERM, then SIGKILL — and kills it outright if the stop call itself fails.
 */
export class Agent extends Disposable {
  state: AgentState = 'running';
  lastLine: string | undefined;
  /** The first {@link OUTPUT_CAP_BYTES} of output, lines joined with "\n". */
  output = '';
  /** True when output went past the cap. */
  outputTruncated = false;
  /** session id, result, cost and tokens from the stream-json lines. */
  readonly stream: StreamSummary = emptySummary();
  exitCode: number | undefined;
  oomKilled = false;
  /** Set when `state` is `lost`. */
  lostReason: LostReason | undefined;
  error: string | undefined;
  readonly startedAt: number;
  /** This run as the gateway meters it (tokens and cost, refusals), if it uses the gateway. */
  readonly gatewayRun: RunRef | undefined;
  /** The Docker host it runs on, when there are several (see {@link AgentOptions.host}). */
  readonly host: string | undefined;
  finishedAt: number | undefined;
  readonly done: Promise<void>;

  private readonly follow = new AbortController();
  private logged = 0;
  private endReason: 'timed-out' | 'stopped' | undefined;

  constructor(private readonly o: AgentOptions) {
    super();
    this.startedAt = o.startedAt ?? Date.now();
    this.gatewayRun = o.gatewayRun;
    this.host = o.host;
    this.register(toDisposable(() => this.follow.abort()));
    this.done = this.run().catch((e: unknown) => {
      // Only a bug gets here (run() turns every failure into a state); the agent still ends.
      if (this.state === 'running') this.state = 'failed';
      this.error ??= errorText(e);
      this.finishedAt ??= Date.now();
    });
  }

  get name(): string {
    return this.o.name;
  }

  get id(): string {
    return this.o.id;
  }

  get persona(): string {
    return this.o.persona;
  }

  /** Stops following the container (it keeps running); the agent ends as `detached`. */
  detach(): void {
    this.follow.abort();
  }

  /** When the watchdog ends this run (ms since the epoch), or undefined without one. */
  get deadline(): number | undefined {
    return this.o.timeoutMs > 0 ? this.startedAt + this.o.timeoutMs : undefined;
  }

  /**
   * Stops the container (SIGTERM, SIGKILL after `graceSeconds`, default the agent's grace);
   * the agent ends as `stopped`. Shutdown passes a shorter grace to fit VS Code's budget.
   */
  async stop(graceSeconds = this.o.graceSeconds): Promise<void> {
    if (this.state !== 'running') return;
    this.endReason ??= 'stopped';
    await this.stopContainer(graceSeconds);
  }

  private async run(): Promise<void> {
    let log: NodeJS.WritableStream | undefined;
    const readers: readline.Interface[] = [];
    let watchdog: NodeJS.Timeout | undefined;
    let drained: Promise<void> = Promise.resolve();
    try {
      const file = this.o.stateDirs.appendStream(this.o.name, 'agent.log');
      file.on('error', () => undefined); // a full disk must not crash the host; the container's own logs stay in Docker
      log = file;
      this.o.stream.on('error', () => undefined); // a broken stream ends the readers; wait() tells how the run ended
      const { stdout, stderr } = this.o.engine.demux(this.o.stream);
      const closed: Array<Promise<void>> = [];
      for (const s of [stdout, stderr]) {
        const rl = readline.createInterface({ input: s, crlfDelay: Infinity });
        rl.on('line', (line) => this.onLine(line, file));
        closed.push(new Promise<void>((resolve) => rl.once('close', resolve)));
        readers.push(rl);
      }
      drained = Promise.all(closed).then(() => undefined);
      const left = Math.max(0, this.startedAt + this.o.timeoutMs - Date.now());
      watchdog = this.o.timeoutMs > 0 ? setTimeout(() => this.onTimeout(), left) : undefined;
      const code = await this.o.engine.wait(this.o.id, this.follow.signal);
      // It no longer runs (Borg sets no restart policy): whatever follows is bookkeeping.
      this.o.onExited?.(this);
      let info = await this.o.engine.inspect(this.o.id);
      // Killed from outside (137 without a stop of ours or an OOM): `docker rm -f` kills first and
      // removes a moment later. Look again briefly, so a removal reads "removed", not "exited 137".
      for (let i = 0; i < REMOVAL_LOOKS && info && code === 137 && !this.endReason && !info.oomKilled; i++) {
        if (info.status === 'removing') info = undefined;
        else {
          await new Promise((resolve) => setTimeout(resolve, 100));
          info = await this.o.engine.inspect(this.o.id);
        }
      }
      this.exitCode = code;
      // The last lines (the stream-json result) may still be on their way: read them before judging.
      let cap: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise<void>((resolve) => (cap = setTimeout(resolve, OUTPUT_DRAIN_MS)))]);
      clearTimeout(cap);
      if (!info) {
        this.state = 'lost';
        this.lostReason = 'removed';
        this.error = 'The container was removed outside Borg while it ran.';
        return;
      }
      // OOMKilled is this run's: Docker resets it when a container starts, and a child process
      // OOM-killed while the main process exits 0 still sets it (measured on dockerd 20.10).
      this.oomKilled = info.oomKilled === true;
      if (code !== 0 && !this.endReason && !this.oomKilled && (await this.killedFromOutside())) {
        this.state = 'lost';
        this.lostReason = 'killed';
        this.error = `The container was stopped outside Borg (docker stop or kill, or the Docker daemon stopping) and exited with ${code}.`;
        return;
      }
      this.state = this.endReason ?? (this.oomKilled ? 'oom-killed' : code === 0 ? 'exited' : 'crashed');
    } catch (e) {
      if (this.follow.signal.aborted) {
        this.state = 'detached';
      } else if (e instanceof DockerUnreachableError) {
        this.state = 'lost';
        this.lostReason = 'docker';
        this.error = e.message;
      } else if ((e as { statusCode?: number }).statusCode === 404) {
        this.state = 'lost';
        this.lostReason = 'removed';
        this.error = 'The container was removed outside Borg while it ran.';
      } else {
        this.state = 'failed';
        this.error = errorText(e);
      }
    } finally {
      if (watchdog) clearTimeout(watchdog);
      this.finishedAt = Date.now();
      for (const rl of readers) rl.close();
      this.o.stream.destroy();
      if (log) await new Promise<void>((resolve) => log!.end(resolve));
      this.o.onChange(this);
    }
  }

  private onLine(line: string, log: NodeJS.WritableStream): void {
    if (this.logged < LOG_CAP_BYTES) {
      this.logged += line.length + 1;
      log.write(this.logged <= LOG_CAP_BYTES ? `${line}\n` : `[borg] agent.log capped at ${LOG_CAP_BYTES} bytes; the container's own log has the rest\n`);
    }
    foldLine(this.stream, line);
    if (this.output.length + line.length + 1 <= OUTPUT_CAP_BYTES) this.output += `${line}\n`;
    else this.outputTruncated = true;
    this.lastLine = summarise(line);
    this.o.onOutput?.(this, line);
  }

  /**
   * True when Docker recorded a `kill` for this run that Borg did not send (measured on dockerd
   * 20.10: a daemon stopping sends SIGTERM to its containers while its API still answers, so
   * the run looks like an exit 143). A daemon already gone counts too.
   */
  private async killedFromOutside(): Promise<boolean> {
    try {
      const events = await this.o.engine.containerEvents(this.o.id, this.startedAt - 1_000);
      return events.some((e) => e.action === 'kill' && e.at >= this.startedAt - 1_000);
    } catch (e) {
      if (e instanceof DockerUnreachableError) throw e; // lost: Docker went away
      return false; // no events to read: judge by the exit code
    }
  }

  private onTimeout(): void {
    if (this.state !== 'running') return;
    this.endReason = 'timed-out';
    void this.stopContainer(this.o.graceSeconds);
  }

  private async stopContainer(graceSeconds: number): Promise<void> {
    try {
      await this.o.engine.stop(this.o.id, graceSeconds);
    } catch {
      await this.o.engine.kill(this.o.id).catch(() => undefined);
    }
  }
}

/**
 * One line for the tree's description: the text of a stream-json `assistant` message or a
 * `result`, else the raw line; at most 120 characters.
 */
export function summarise(line: string): string {
  let text = line;
  if (line.startsWith('{')) {
    try {
      const msg = JSON.parse(line) as { type?: string; subtype?: string; result?: unknown; message?: { content?: Array<{ type?: string; text?: string }> } };
      if (msg.type === 'assistant') text = msg.message?.content?.find((c) => c.type === 'text')?.text ?? text;
      else if (msg.type === 'result') text = String(msg.result ?? msg.subtype ?? 'result');
      else if (msg.type === 'system') text = msg.subtype ?? 'system';
    } catch {
      // not JSON after all: show it as it is
    }
  }
  text = text.replace(/\s+/g, ' ').trim();
  const chars = Array.from(text); // code points, so an emoji is never cut in half
  return chars.length > 120 ? `${chars.slice(0, 119).join('')}…` : text;
}
