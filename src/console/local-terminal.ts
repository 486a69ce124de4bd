import { spawnSync } from 'node:child_process';
import { HostStdio } from '../runtime/stdio-relay';

/**
 * Puts runv's own terminal in raw mode for a container's terminal, as runc does (cfmakeraw),
 * and returns the undo. Node's raw mode keeps output processing on, which would turn the
 * guest pty's \r\n into \r\r\n: stty turns it off too, and setRawMode(false) restores all.
 */
export function enterRawMode(stdio: HostStdio, terminal: boolean): () => void {
  const { stdin } = stdio;
  if (!terminal || !stdin.isTTY || !stdin.setRawMode) return () => undefined;
  stdin.setRawMode(true);
  const fd = (stdin as { fd?: number }).fd ?? 0;
  spawnSync('stty', ['-opost'], { stdio: [fd, 'ignore', 'ignore'] });
  return () => stdin.setRawMode?.(false);
}
