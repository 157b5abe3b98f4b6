import { buildDemoImage, DEMO_IMAGE } from '../core/demoImage';
import { DockerEngine } from '../core/engine';
import { BorgError } from '../core/errors';

/** Entry of the headless `borg` CLI. Returns the exit code: 0 ok, 1 refused, 2 usage. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, sub] = argv;
  try {
    if (cmd === 'image' && sub === 'build-demo') {
      const engine = new DockerEngine();
      await engine.ping();
      const built = await buildDemoImage(engine, { force: argv.includes('--force') });
      console.log(built ? `built ${DEMO_IMAGE}` : `${DEMO_IMAGE} is up to date`);
      return 0;
    }
    console.error('usage: borg image build-demo [--force]');
    return 2;
  } catch (e) {
    if (e instanceof BorgError) {
      console.error(e.message);
      return 1;
    }
    throw e;
  }
}
