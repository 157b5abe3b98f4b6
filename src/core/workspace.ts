import { createHash } from 'node:crypto';

/**
 * A stable, short id for a workspace (16 hex chars of SHA-256 over its key: the workspace file
 * or folder URI, or "global" with no folder open). Stored in the `borg.workspace` label so each
 * window recognises its own containers.
 */
export function workspaceId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}
