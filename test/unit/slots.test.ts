import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BorgError, PipelineStoppedError } from '../../src/core/errors';
import { Slots } from '../../src/core/slots';

type Settled = 'pending' | 'resolved' | 'rejected';

/** Where `p` stands once every queued microtask and the current I/O turn have run. */
function settled(p: Promise<unknown>): Promise<Settled> {
  return Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<Settled>((r) => setImmediate(() => r('pending'))),
  ]);
}

describe('Slots', () => {
  it('admits acquires at once while under the limit', async () => {
    const slots = new Slots(2);
    const a = slots.acquire();
    const b = slots.acquire();
    assert.equal(await settled(a), 'resolved');
    assert.equal(await settled(b), 'resolved');
    assert.equal(slots.running, 2);
    assert.equal(slots.queued, 0);
  });

  it('holds an acquire over the limit in the queue until a slot is released', async () => {
    const slots = new Slots(2);
    const release = await slots.acquire();
    await slots.acquire();
    const third = slots.acquire();
    assert.equal(await settled(third), 'pending');
    assert.equal(slots.running, 2);
    assert.equal(slots.queued, 1);
    release();
    assert.equal(await settled(third), 'resolved');
    assert.equal(slots.running, 2);
    assert.equal(slots.queued, 0);
  });

  it('admits waiters in the order they asked (FIFO)', async () => {
    const slots = new Slots(1);
    const first = await slots.acquire();
    const order: string[] = [];
    const releases = new Map<string, () => void>();
    for (const who of ['a', 'b', 'c']) {
      void slots.acquire().then((release) => {
        order.push(who);
        releases.set(who, release);
      });
    }
    first();
    await settled(Promise.resolve());
    assert.deepEqual(order, ['a']);
    releases.get('a')!();
    await settled(Promise.resolve());
    releases.get('b')!();
    await settled(Promise.resolve());
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.equal(slots.running, 1);
  });

  it('counts a release only once however often it is called', async () => {
    const slots = new Slots(1);
    const release = await slots.acquire();
    const second = slots.acquire();
    const third = slots.acquire();
    release();
    release();
    release();
    assert.equal(await settled(second), 'resolved');
    assert.equal(await settled(third), 'pending');
    assert.equal(slots.running, 1);
    assert.equal(slots.queued, 1);
  });

  it('never lets running go below 0 on repeated releases', async () => {
    const slots = new Slots(3);
    const release = await slots.acquire();
    release();
    release();
    assert.equal(slots.running, 0);
  });

  it('admits waiters when the limit is raised', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const waiters = [slots.acquire(), slots.acquire(), slots.acquire()];
    slots.setLimit(3);
    assert.equal(slots.limit, 3);
    assert.deepEqual(await Promise.all(waiters.map(settled)), ['resolved', 'resolved', 'pending']);
    assert.equal(slots.running, 3);
    assert.equal(slots.queued, 1);
  });

  it('lets running holders finish when the limit is lowered, admitting again only below the new limit', async () => {
    const slots = new Slots(3);
    const releases = [await slots.acquire(), await slots.acquire(), await slots.acquire()];
    slots.setLimit(1);
    assert.equal(slots.running, 3);
    const waiter = slots.acquire();
    releases[0]();
    releases[1]();
    assert.equal(await settled(waiter), 'pending');
    releases[2]();
    assert.equal(await settled(waiter), 'resolved');
    assert.equal(slots.running, 1);
  });

  it('raises a limit below 1 to 1', () => {
    const slots = new Slots(4);
    slots.setLimit(0);
    assert.equal(slots.limit, 1);
    slots.setLimit(-5);
    assert.equal(slots.limit, 1);
  });

  it('raises a limit below 1 given to the constructor to 1, as setLimit does', async () => {
    const slots = new Slots(0);
    assert.equal(slots.limit, 1);
    assert.equal(await settled(slots.acquire()), 'resolved');
  });

  it('rejects every queued acquire with the given error', async () => {
    const slots = new Slots(1);
    await slots.acquire();
    const a = slots.acquire();
    const b = slots.acquire();
    const stopped = new PipelineStoppedError();
    slots.rejectWaiting(stopped);
    await assert.rejects(a, (e) => e === stopped);
    await assert.rejects(b, (e) => e === stopped);
    assert.equal(slots.queued, 0);
  });

  it('leaves running holders alone when rejecting waiters', async () => {
    const slots = new Slots(2);
    const release = await slots.acquire();
    slots.rejectWaiting(new BorgError('stop'));
    assert.equal(slots.running, 1);
    release();
    assert.equal(slots.running, 0);
  });

  it('does not admit a rejected waiter when a slot frees later', async () => {
    const slots = new Slots(1);
    const release = await slots.acquire();
    const rejected = slots.acquire();
    rejected.catch(() => undefined);
    slots.rejectWaiting(new BorgError('stop'));
    release();
    assert.equal(await settled(rejected), 'rejected');
    assert.equal(slots.running, 0);
  });

  it('still serves new acquires after rejecting waiters', async () => {
    const slots = new Slots(1);
    const release = await slots.acquire();
    slots.acquire().catch(() => undefined);
    slots.rejectWaiting(new BorgError('stop'));
    const later = slots.acquire();
    release();
    assert.equal(await settled(later), 'resolved');
  });
});
