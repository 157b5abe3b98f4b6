import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BorgError, InvalidInputError } from '../../src/core/errors';
import { ContainerSeq, containerName, MAX_CONTAINER_NAME_LENGTH, MAX_SEQ, validateNamePart } from '../../src/core/names';

const BAD_PARTS = ['', '-x', '_x', '.x', 'a b', 'ä', 'a/b', 'a:b', 'x\n'];
const GOOD_PARTS = ['a', 'Z', '9', 'borg', 'my-borg', 'a_b.c-d', 'Agent01'];

describe('ContainerSeq', () => {
  it('starts at 0 by default and counts up by one', () => {
    const seq = new ContainerSeq();
    assert.deepEqual([seq.next(), seq.next(), seq.next()], [0, 1, 2]);
  });

  it('starts at the given number', () => {
    const seq = new ContainerSeq(41);
    assert.equal(seq.next(), 41);
    assert.equal(seq.next(), 42);
  });

  it('peek returns the number next() will hand out, without advancing', () => {
    const seq = new ContainerSeq(7);
    assert.equal(seq.peek(), 7);
    assert.equal(seq.peek(), 7);
    assert.equal(seq.next(), 7);
    assert.equal(seq.peek(), 8);
  });

  it('gives two successive launches different container names', () => {
    const seq = new ContainerSeq();
    const first = containerName('borg', 'dev', seq.next());
    const second = containerName('borg', 'dev', seq.next());
    assert.notEqual(first, second);
  });

  it('never hands out the same number to concurrent launches', async () => {
    const seq = new ContainerSeq();
    const launches = 1000;
    const taken = await Promise.all(
      Array.from({ length: launches }, async (_, i) => {
        // interleave: each launch yields before and after taking its number
        await new Promise((r) => (i % 2 ? setImmediate(r) : queueMicrotask(() => r(undefined))));
        const n = seq.next();
        await Promise.resolve();
        return n;
      }),
    );
    assert.equal(new Set(taken).size, launches);
    assert.equal(seq.peek(), launches);
  });

  it('wraps to 0 after 2^32 - 1', () => {
    const seq = new ContainerSeq(0xffff_fffe);
    assert.deepEqual([seq.next(), seq.next(), seq.next(), seq.next()], [4294967294, 4294967295, 0, 1]);
    assert.equal(MAX_SEQ, 4294967295);
  });

  it('accepts the extreme starts 0 and 2^32 - 1', () => {
    assert.equal(new ContainerSeq(0).next(), 0);
    assert.equal(new ContainerSeq(MAX_SEQ).next(), MAX_SEQ);
  });

  for (const start of [-1, 1.5, 2 ** 32, Number.NaN, Number.POSITIVE_INFINITY]) {
    it(`rejects the start ${start} with InvalidInputError`, () => {
      assert.throws(() => new ContainerSeq(start), InvalidInputError);
    });
  }
});

describe('containerName', () => {
  it('builds <prefix>-<persona>-<n>', () => {
    assert.equal(containerName('borg', 'dev', 12), 'borg-dev-12');
  });

  for (const good of GOOD_PARTS) {
    it(`accepts ${JSON.stringify(good)} as prefix and as persona`, () => {
      assert.equal(containerName(good, good, 0), `${good}-${good}-0`);
    });
  }

  for (const bad of BAD_PARTS) {
    it(`rejects the prefix ${JSON.stringify(bad)} with an InvalidInputError naming borg.containerPrefix`, () => {
      assert.throws(
        () => containerName(bad, 'dev', 0),
        (e: unknown) => e instanceof InvalidInputError && e.message.includes('borg.containerPrefix'),
      );
    });

    it(`rejects the persona ${JSON.stringify(bad)} with an InvalidInputError naming the persona`, () => {
      assert.throws(
        () => containerName('borg', bad, 0),
        (e: unknown) => e instanceof InvalidInputError && /persona/.test(e.message) && !e.message.includes('borg.containerPrefix'),
      );
    });
  }

  it('quotes the offending value in the message', () => {
    assert.throws(() => containerName('a b', 'dev', 0), /"a b"/);
  });

  it('says an empty part is empty', () => {
    assert.throws(() => containerName('borg', '', 0), /persona is empty/);
  });

  it('InvalidInputError is a BorgError (shown without a stack trace)', () => {
    assert.throws(() => validateNamePart('persona', '-x'), BorgError);
  });

  it(`accepts a name of exactly ${MAX_CONTAINER_NAME_LENGTH} characters`, () => {
    const prefix = 'p'.repeat(MAX_CONTAINER_NAME_LENGTH - '-d-0'.length);
    const name = containerName(prefix, 'd', 0);
    assert.equal(name.length, MAX_CONTAINER_NAME_LENGTH);
  });

  it(`rejects a name longer than ${MAX_CONTAINER_NAME_LENGTH} characters, saying the limit and the setting`, () => {
    const prefix = 'p'.repeat(MAX_CONTAINER_NAME_LENGTH - '-d-0'.length);
    assert.throws(
      () => containerName(prefix, 'd', 10),
      (e: unknown) => e instanceof InvalidInputError && e.message.includes(String(MAX_CONTAINER_NAME_LENGTH)) && e.message.includes('borg.containerPrefix'),
    );
  });

  it('counts the number in the length (a name that fits at 0 may not fit at 2^32 - 1)', () => {
    const prefix = 'p'.repeat(MAX_CONTAINER_NAME_LENGTH - '-dev-0'.length);
    assert.doesNotThrow(() => containerName(prefix, 'dev', 0));
    assert.throws(() => containerName(prefix, 'dev', MAX_SEQ), InvalidInputError);
  });
});
