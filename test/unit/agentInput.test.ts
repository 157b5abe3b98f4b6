import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { readAgentInput, taskInput, withDeadline } from '../../src/core/agentInput';

describe('AgentInput: built and read in one place', () => {
  it('a task input round-trips through its record', () => {
    const input = taskInput({ taskId: 3, phase: 'qa', persona: 'qa', prompt: 'p', systemPrompt: 's', model: '', allowedTools: ['Write'], workdir: '/workspace/repo' });
    assert.deepEqual(readAgentInput(JSON.stringify(input)), { ...input, model: null });
    assert.equal(input.model, null, "'' is the agent's default model");
  });

  it('a damaged record never names another task: bad taskId or phase are dropped, a missing persona defaulted', () => {
    const r = readAgentInput(JSON.stringify({ taskId: '3', phase: 'deploy', sleepSeconds: 5 }), 'worker');
    assert.deepEqual(r, { persona: 'worker', sleepSeconds: 5 });
    assert.equal(readAgentInput(JSON.stringify({ taskId: -1, persona: 'qa' }))?.taskId, undefined);
    assert.equal(readAgentInput('[1,2]'), undefined);
    assert.equal(readAgentInput('{not json'), undefined);
    assert.equal(readAgentInput(undefined), undefined);
  });

  it('the deadline is the start plus the budget, and null without a watchdog', () => {
    const at = Date.parse('2026-12-01T10:00:00.000Z');
    assert.deepEqual(withDeadline({ persona: 'worker' }, 600, at), { persona: 'worker', deadline: '2026-12-01T10:10:00.000Z', timeoutSeconds: 600 });
    assert.deepEqual(withDeadline({ persona: 'worker' }, 0, at), { persona: 'worker', deadline: null, timeoutSeconds: 0 });
  });
});
