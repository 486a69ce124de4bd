import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { HostStdio } from '../runtime/stdio-relay';
import { ConsoleSize, sendConsoleMaster } from './console-socket';

export interface ConsoleStdio extends HostStdio {
  /** The size the caller last gave the terminal (conmon sets it on the master). */
  windowSize(): ConsoleSize | undefined;
}

/**
 * The stdio of a process runv stands for (a container's init, an exec): a pty sent to the
 * caller's console socket, or runv's own stdio, whose size (if a terminal) is its stdout's.
 */
export async function openStdio(consoleSocket: string | undefined, size?: ConsoleSize): Promise<ConsoleStdio> {
  if (consoleSocket) return openConsole(consoleSocket, size);
  const { stdin, stdout, stderr } = process;
  return { stdin, stdout, stderr, windowSize: () => (stdout.isTTY ? { rows: stdout.rows, cols: stdout.columns } : undefined) };
}

/**
 * Sends a pty to the caller's console socket and returns its slave as the process's stdio.
 * Opened by a session leader without a terminal (the shim, the exec relay: both started
 * detached), the slave becomes that process's controlling terminal, so the caller's resizes
 * arrive as SIGWINCH. The pty is raw: the guest's own pty does the terminal work.
 */
async function openConsole(socketPath: string, size?: ConsoleSize): Promise<ConsoleStdio> {
  const slave = await sendConsoleMaster(socketPath, size);
  const fd = fs.openSync(slave, fs.constants.O_RDWR);
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fd);
  return {
    stdin: input,
    stdout: output,
    stderr: output,
    windowSize: () => {
      const [cols, rows] = output.getWindowSize();
      return rows > 0 && cols > 0 ? { rows, cols } : undefined;
    },
  };
}
