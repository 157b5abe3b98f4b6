/**
 * Labels on every container Borg creates. A container without `borg.managed=true` is someone
 * else's: Borg never stops, removes or reuses it. Labels are fixed at create time, so unlike
 * anything in the container's state dir an agent cannot rewrite them.
 */
export const LABEL_MANAGED = 'borg.managed';
export const LABEL_PERSONA = 'borg.persona';
/** Stable hash of the workspace the container belongs to, so each window knows its own (see workspace.ts). */
export const LABEL_WORKSPACE = 'borg.workspace';
/** The task id and phase a container runs for (absent for loose agents): recovery takes phases back from these. */
export const LABEL_TASK = 'borg.task';
export const LABEL_PHASE = 'borg.phase';
/** The confinement the container was created with, as one line (see hardening.ts `describeLimits`). */
export const LABEL_LIMITS = 'borg.limits';

/** `true` when the container was made with the model gateway's folder and socket (gateway/gateway.ts): its starts get a run token. */
export const LABEL_GATEWAY = 'borg.gateway';

/**
 * The watchdog's budget in whole seconds, counted from Docker's `State.StartedAt` ("0": none).
 * A budget rather than a time, so the deadline stays right when a hardline starts the same
 * container again; whoever follows the container (its launcher, or recovery after a restart)
 * stops it there.
 */
export const LABEL_TIMEOUT = 'borg.timeout';

/** The watchdog budget (s) a container was created with, or undefined when its label is missing or bad. */
export function timeoutOf(labels: Record<string, string> | undefined): number | undefined {
  const v = labels?.[LABEL_TIMEOUT];
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

/**
 * The network a container was created with: `network <mode>` in its `borg.limits` line
 * (hardening.ts `describeLimits`), else `gateway` when its `borg.gateway` label says it got the
 * gateway's socket; undefined when neither says (created before Borg recorded it). Any mode
 * Docker accepts may show (`host`, a user network), not only Borg's three.
 */
export function networkOf(labels: Record<string, string> | undefined): string | undefined {
  const m = /(?:^|· )network (\S+)/.exec(labels?.[LABEL_LIMITS] ?? '');
  if (m) return m[1];
  return labels?.[LABEL_GATEWAY] === 'true' ? 'gateway' : undefined;
}

/** The labels for a new container of `persona` in `workspaceId`, plus `extra` (task, phase, limits). */
export function agentLabels(persona: string, workspaceId: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, [LABEL_MANAGED]: 'true', [LABEL_PERSONA]: persona, [LABEL_WORKSPACE]: workspaceId };
}

/** True when the labels mark a container as created by Borg. */
export function isManaged(labels: Record<string, string> | undefined): boolean {
  return labels?.[LABEL_MANAGED] === 'true';
}
