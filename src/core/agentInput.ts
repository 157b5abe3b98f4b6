import type { AgentGitInput } from './gitRemote';
import type { Phase } from './taskStore';

/** Borg's own record of what a container was sent (in `<state root>/.host/<name>/`, never mounted). */
export const INPUT_FILE = 'input.json';

/**
 * The one JSON object every agent reads on stdin (README, "Agent protocol"), and Borg's record
 * of it: built here for task phases, read back here for hardline, reclaim and recovery. The
 * `gateway` field (`{token}`: the run's model-gateway token, new on every start) is added on
 * stdin only, never recorded. No API key is ever part of it.
 */
export interface AgentInput {
  persona: string;
  /** Set for task phases: recovery takes the phase back from these. */
  taskId?: number;
  phase?: Phase;
  prompt?: string;
  systemPrompt?: string;
  /** '' or null: the agent's default model. */
  model?: string | null;
  allowedTools?: string[];
  /** Where the task's worktree is mounted (`mount`), or where the agent clones it (`git`). */
  workdir?: string;
  /**
   * `borg.docker.worktrees: git` only: no worktree is mounted; the agent clones `url` at `branch`
   * (whose tip Borg just pushed: `commit`) into `workdir`, and pushes its work back to
   * `refs/heads/<branch>` there (gitRemote.ts). Anything in `url` (a token) is visible to the agent.
   */
  git?: AgentGitInput;
  /** The session a hardline resumes (Claude Code `--resume`). */
  resumeSessionId?: string | null;
  /** When the watchdog ends this run (ISO time), null without one; refreshed on every start. */
  deadline?: string | null;
  /** The watchdog's budget, seconds from this start (0: none). */
  timeoutSeconds?: number;
  /** Fields a user passes with `borg launch --input` (the demo agent's `sleepSeconds`, `exitCode`, `mode`). */
  [extra: string]: unknown;
}

const PHASES: readonly string[] = ['spec', 'qa', 'impl', 'test'];

/** The input of a task phase's agent. */
export function taskInput(t: {
  taskId: number;
  phase: Phase;
  persona: string;
  prompt: string;
  systemPrompt: string;
  model: string;
  allowedTools: string[];
  workdir: string;
  git?: AgentGitInput;
}): AgentInput {
  return {
    ...(t.git ? { git: { url: t.git.url, branch: t.git.branch, commit: t.git.commit } } : {}),
    taskId: t.taskId,
    phase: t.phase,
    persona: t.persona,
    prompt: t.prompt,
    systemPrompt: t.systemPrompt,
    model: t.model || null,
    allowedTools: t.allowedTools,
    workdir: t.workdir,
    resumeSessionId: null,
  };
}

/**
 * `input` with the watchdog's `deadline` (ISO time, `startedAt` + the budget) and
 * `timeoutSeconds`: the images Borg ships end themselves there even when no Borg process
 * follows them. `timeoutSeconds` 0 records "no deadline".
 */
export function withDeadline(input: AgentInput, timeoutSeconds: number, startedAt = Date.now()): AgentInput {
  if (!(timeoutSeconds > 0)) return { ...input, deadline: null, timeoutSeconds: 0 };
  return { ...input, deadline: new Date(startedAt + timeoutSeconds * 1000).toISOString(), timeoutSeconds };
}

/**
 * Reads a recorded input (the text of {@link INPUT_FILE}). Returns undefined when there is none
 * or it is not a JSON object; fields of the wrong type are dropped (a `taskId` that is no
 * positive integer, a `phase` that is no phase), so a damaged record never names another task.
 * A missing persona becomes `fallbackPersona`.
 */
export function readAgentInput(text: string | undefined, fallbackPersona = 'agent'): AgentInput | undefined {
  if (text === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const o = { ...(raw as Record<string, unknown>) };
  const input: AgentInput = { ...o, persona: typeof o.persona === 'string' && o.persona ? o.persona : fallbackPersona };
  if (!(typeof o.taskId === 'number' && Number.isInteger(o.taskId) && o.taskId > 0)) delete input.taskId;
  if (!(typeof o.phase === 'string' && PHASES.includes(o.phase))) delete input.phase;
  if (!isGitInput(o.git)) delete input.git;
  return input;
}

/** A well-formed `git` field: three strings, `commit` a full commit id. */
function isGitInput(v: unknown): v is AgentGitInput {
  if (!v || typeof v !== 'object') return false;
  const g = v as Record<string, unknown>;
  return typeof g.url === 'string' && typeof g.branch === 'string' && typeof g.commit === 'string' && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(g.commit);
}
