/**
 * runc's callers (containerd, conmon, docker) put global flags before the command:
 * `runv --root R --log L --log-format json create ...`. oclif parses flags after the command
 * id only, so those leading flags are moved right behind the id before oclif sees them.
 */
/** RunvCommand's global flags that take a value (a unit test keeps the two in step). */
export const VALUE_FLAGS = new Set(['--root', '--images-dir', '--template-dir', '--libvirt-uri', '--accel']);
/** Commands with a topic take two words: `image build`. */
const TOPICS = new Set(['image']);

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
