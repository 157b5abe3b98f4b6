/** Docker's StartedAt/FinishedAt compared exactly (test/support/dockerRecords.ts): what the hosts test and P11 count concurrency with. */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maxOverlap, nanosOf } from '../support/dockerRecords';

describe('Docker run records', () => {
  it('reads RFC 3339 times to the nanosecond', () => {
    assert.equal(nanosOf('2026-12-02T04:05:29.123456789Z') - nanosOf('2026-12-02T04:05:29.123456788Z'), 1n);
    assert.equal(nanosOf('2026-12-02T04:05:29Z'), nanosOf('2026-12-02T04:05:29.000000000Z'));
    assert.equal(nanosOf('2026-12-02T04:05:29.5Z') - nanosOf('2026-12-02T04:05:29Z'), 500_000_000n);
    assert.equal(nanosOf('2026-12-02T05:05:29+01:00'), nanosOf('2026-12-02T04:05:29Z'));
    assert.throws(() => nanosOf('yesterday'));
    assert.throws(() => nanosOf('2026-12-02T04:05:29.1234567890Z'));
  });

  it('counts the most runs at one instant; an end and a start at the same nanosecond are not two at once', () => {
    const t = (s: number, ns = 0) => `2026-12-02T04:00:${String(s).padStart(2, '0')}.${String(ns).padStart(9, '0')}Z`;
    assert.equal(maxOverlap([]), 0);
    assert.equal(maxOverlap([{ startedAt: t(0), finishedAt: t(1) }]), 1);
    assert.equal(
      maxOverlap([
        { startedAt: t(0), finishedAt: t(1) },
        { startedAt: t(1), finishedAt: t(2) },
      ]),
      1,
    );
    assert.equal(
      maxOverlap([
        { startedAt: t(0), finishedAt: t(1, 1) },
        { startedAt: t(1), finishedAt: t(2) },
      ]),
      2,
    );
    assert.equal(
      maxOverlap([
        { startedAt: t(0), finishedAt: t(5) },
        { startedAt: t(1), finishedAt: t(2) },
        { startedAt: t(3), finishedAt: t(4) },
        { startedAt: t(3, 5), finishedAt: t(6) },
      ]),
      3,
    );
  });
});
