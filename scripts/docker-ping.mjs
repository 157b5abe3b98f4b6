// Exit 0 when a Docker daemon answers (DOCKER_HOST or the default socket), 1 otherwise.
import Docker from 'dockerode';
try {
  await new Docker().ping();
  process.exit(0);
} catch (e) {
  console.error(String(e?.message ?? e));
  process.exit(1);
}
