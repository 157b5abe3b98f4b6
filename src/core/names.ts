import { InvalidInputError } from './errors';

/**
 * Docker's container-name rule, from the daemon's `validContainerNamePattern`
 * (moby daemon/names: `[a-zA-Z0-9][a-zA-Z0-9_.-]`). Applied to each part we put in a name.
 */
export const DOCKER_NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Longest container name we create. Docker allows more, but 63 keeps names valid as DNS labels (hostnames on user networks). */
export const MAX_CONTAINER_NAME_LENGTH = 63;

/** The counter wraps to 0 after this value (2^32 − 1). */
export const MAX_SEQ = 0xffff_ffff;

/**
 * Checks one part of a container name (`prefix` or `persona`) against Docker's rule.
 * @throws InvalidInputError naming the setting and the rule, so the user can fix it.
 */
export function validateNamePart(what: string, value: string): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError(`The ${what} is empty. Set it to letters, digits, "_", "." or "-", starting with a letter or digit.`);
  }
  if (!DOCKER_NAME_PATTERN.test(value)) {
    throw new InvalidInputError(`The ${what} "${value}" is not allowed in a Docker container name. Use letters, digits, "_", "." or "-", starting with a letter or digit.`);
  }
}

/**
 * Builds `<prefix>-<persona>-<n>`.
 * @throws InvalidInputError when a part breaks Docker's rule or the name exceeds {@link MAX_CONTAINER_NAME_LENGTH}.
 */
export function containerName(prefix: string, persona: string, n: number): string {
  validateNamePart('container prefix (borg.containerPrefix)', prefix);
  validateNamePart('persona', persona);
  const name = `${prefix}-${persona}-${n}`;
  if (name.length > MAX_CONTAINER_NAME_LENGTH) {
    throw new InvalidInputError(`The container name "${name}" is ${name.length} characters; the limit is ${MAX_CONTAINER_NAME_LENGTH}. Shorten borg.containerPrefix or the persona.`);
  }
  return name;
}

/**
 * The Pipeline's `containerSeq`: a fetch-and-add counter that hands out name numbers.
 *
 * `next()` is synchronous, so two launches started in the same tick can never read the same
 * value (JavaScript runs one callback at a time). After {@link MAX_SEQ} it wraps to 0. A wrap is
 * harmless: a number only proposes a candidate name, and the claim step inspects every candidate
 * and skips names that are still live or kept for hardline.
 */
export class ContainerSeq {
  private value: number;

  /** @param start first number handed out, 0..2^32−1 (tests start near the wrap). */
  constructor(start = 0) {
    if (!Number.isInteger(start) || start < 0 || start > MAX_SEQ) {
      throw new InvalidInputError(`containerSeq start must be an integer in 0..${MAX_SEQ}, got ${start}`);
    }
    this.value = start;
  }

  /** Returns the current number and advances (wrapping after 2^32 − 1). */
  next(): number {
    const n = this.value;
    this.value = n === MAX_SEQ ? 0 : n + 1;
    return n;
  }

  /** The number the next call to {@link next} returns. */
  peek(): number {
    return this.value;
  }
}
