/**
 * runc's callers (containerd, conmon, docker) put global flags before the command:
 * `runv --root R --log L --log-format json create ...`. oclif parses flags after the command
 * id only, so those leading flags are moved right behind the id before oclif sees them.
 */
/** RunvCommand's global flags that take a value (a unit test keeps the two in step). */
export const VALUE_FLAGS = new Set(['--root', '--images-dir', '--template-dir', '--libvirt-uri', '--config', '--driver', '--accel', '--log', '--log-format', '--rootless']);
/** Commands with a topic take two words: `image build`. */
const TOPICS = new Set(['image', 'pool']);

export function hoistGlobalFlags(argv: string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  while (i < argv.length && argv[i].startsWith('-') && argv[i] !== '--') {
    const flag = argv[i++];
    leading.push(flag);
    if (VALUE_FLAGS.has(flag) && i < argv.length) leading.push(argv[i++]);
  }
  if (leading.length === 0 || i >= argv.length) return argv;
  const idLength = TOPICS.has(argv[i]) && i + 1 < argv.length && !argv[i + 1].startsWith('-') ? 2 : 1;
  const id = argv.slice(i, i + idLength);
  return [...id, ...leading, ...argv.slice(i + idLength)];
}

/** `runv exec`'s flags that take a value, runc's names. */
const EXEC_VALUE_FLAGS = new Set(['--process', '-p', '--console-socket', '--pid-file', '--env', '-e', '--cwd', '--user', '-u', '--additional-gids', '-g', '--cap', '-c', '--process-label', '--apparmor', '--preserve-fds', ...VALUE_FLAGS]);

/**
 * runc stops parsing flags at the container id of `exec`: in `exec c1 sh -c 'x'`, -c is the
 * command's. oclif would take it as a flag, so a `--` goes right after the id.
 */
export function protectExecArgs(argv: string[]): string[] {
  if (argv[0] !== 'exec') return argv;
  let i = 1;
  while (i < argv.length && argv[i].startsWith('-') && argv[i] !== '--') i += EXEC_VALUE_FLAGS.has(argv[i]) ? 2 : 1;
  if (i + 1 >= argv.length || argv[i] === '--' || argv[i + 1] === '--') return argv;
  return [...argv.slice(0, i + 1), '--', ...argv.slice(i + 1)];
}
