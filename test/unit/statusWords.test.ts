/** The status bar item's accessible label (core/statusWords.ts): words, not codicons. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { StatusFacts, statusAccessibleLabel } from '../../src/core/statusWords';

const idle: StatusFacts = { running: 0, max: 4, launchesQueued: 0, tasksQueued: 0, paused: false, replay: false, readOnly: false, dockerUnreachable: false };

describe('statusAccessibleLabel', () => {
  it("reads the counts and the day's spend as a sentence", () => {
    assert.equal(statusAccessibleLabel({ ...idle, running: 2, tasksQueued: 3, spentTodayUsd: 0.42 }), '2 of 4 agents running, 3 tasks queued, $0.42 spent today');
  });

  it('idle: only the agents; one of each in the singular', () => {
    assert.equal(statusAccessibleLabel(idle), '0 of 4 agents running');
    assert.equal(statusAccessibleLabel({ ...idle, running: 1, max: 1, launchesQueued: 1, tasksQueued: 1 }), '1 of 1 agent running, 1 agent launch waiting, 1 task queued');
  });

  it('paused, read-only, replay and a spend under a cent are said in words', () => {
    assert.equal(
      statusAccessibleLabel({ ...idle, launchesQueued: 2, paused: true, readOnly: true, spentTodayUsd: 0.001, replay: true }),
      '0 of 4 agents running, 2 agent launches waiting, tasks paused, read-only: another window or borg run holds this workspace, less than $0.01 spent today, the model is a replayed recording',
    );
  });

  it('Docker unreachable says only that', () => {
    assert.equal(statusAccessibleLabel({ ...idle, running: 3, dockerUnreachable: true }), 'Borg Pipeline: Docker is unreachable');
  });

  it('never carries a codicon or a middle dot', () => {
    const label = statusAccessibleLabel({ ...idle, running: 1, launchesQueued: 1, tasksQueued: 2, paused: true, spentTodayUsd: 3, replay: true });
    assert.doesNotMatch(label, /\$\(|·/);
  });
});
