import { describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { BorgError, DockerUnreachableError, ImageMissingError, InvalidInputError, NameConflictError, PipelineStoppedError, RefusedError } from '../../src/core/errors';

describe('errors', () => {
  for (const make of [
    () => new InvalidInputError('x'),
    () => new DockerUnreachableError('unix:///var/run/docker.sock', 'connect ENOENT'),
    () => new ImageMissingError('img:1'),
    () => new NameConflictError('x'),
    () => new RefusedError('x'),
    () => new PipelineStoppedError(),
  ]) {
    const e = make();
    it(`${e.constructor.name} is a BorgError named after its class`, () => {
      assert.ok(e instanceof BorgError);
      assert.ok(e instanceof Error);
      assert.equal(e.name, e.constructor.name);
    });
  }

  it('DockerUnreachableError names the endpoint and the detail and says what to do', () => {
    const e = new DockerUnreachableError('tcp://10.0.0.5:2375', 'connect ECONNREFUSED');
    assert.equal(e.endpoint, 'tcp://10.0.0.5:2375');
    assert.match(e.message, /tcp:\/\/10\.0\.0\.5:2375/);
    assert.match(e.message, /ECONNREFUSED/);
    assert.match(e.message, /Start Docker/);
  });

  it('ImageMissingError names the image and how to get one', () => {
    const e = new ImageMissingError('my/agent:2');
    assert.equal(e.image, 'my/agent:2');
    assert.match(e.message, /"my\/agent:2"/);
    assert.match(e.message, /borg.agentImage/);
  });

  it('keeps the cause', () => {
    const cause = new Error('root');
    assert.equal(new BorgError('wrapped', { cause }).cause, cause);
  });
});
