/**
 * Borg's one log line shape, shared by the extension (a VS Code `LogOutputChannel`, which has
 * these levels) and the CLI (stderr). Task progress — phase changes, commits, test results,
 * blocks — is `info`; an agent's raw output lines are `trace` (the channel hides them unless
 * its level is set to Trace).
 */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** Where core code writes one log line (no newline); `level` defaults to `info`. */
export type LogSink = (line: string, level?: LogLevel) => void;
