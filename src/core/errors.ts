/**
 * Errors a user can act on. `message` is written for the person reading the notification or the
 * CLI's stderr: it says what happened and what to do. Code that shows errors checks
 * `instanceof BorgError` to show the message alone, without a stack trace.
 */
export class BorgError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A setting or argument breaks a rule (for example Docker's container-name rule). */
export class InvalidInputError extends BorgError {}

/** The Docker daemon did not answer. `endpoint` names the socket or URL that was tried. */
export class DockerUnreachableError extends BorgError {
  constructor(
    readonly endpoint: string,
    readonly detail: string,
    options?: { cause?: unknown; advice?: string },
  ) {
    // `advice` fits the cause (dockerDown.ts); a wrong setting is not answered with "Start Docker".
    super(`Docker is not reachable at ${endpoint}: ${detail}. ${options?.advice ?? 'Start Docker, then Refresh.'}`, options);
  }
}

/** The agent image is not present locally (no registry is pulled from). */
export class ImageMissingError extends BorgError {
  constructor(readonly image: string) {
    super(
      `The agent image "${image}" is not present in Docker. Build the demo image with ` + '"Borg: Build Demo Agent Image" (or `borg image build-demo`), or set borg.agentImage to an image you have.',
    );
  }
}

/** Docker answered 409 Conflict: the name was taken between our look and our create. */
export class NameConflictError extends BorgError {}

/** A command refused to act on a container in its current state; the message names the state and the command that fits. */
export class RefusedError extends BorgError {}

/** The Pipeline was stopped (shutting down) and takes no new work. */
export class PipelineStoppedError extends BorgError {
  constructor() {
    super('Borg Pipeline is shutting down and takes no new work.');
  }
}

/**
 * A launch ended before its container started because the user stopped or cancelled it (Stop
 * All, Cancel Task): an interruption, never a failed attempt.
 */
export class InterruptedError extends BorgError {}
